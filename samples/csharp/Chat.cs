// A chat loop over the C# binding: reads one user message per line from stdin and streams the
// model's reply. "/reset" starts over, "/exit" or the end of input quits.
//
//   mono cab_chat.exe MODEL.gguf [--system TEXT] [--max-tokens N] [--ctx TOKENS]
//                     [--policy NAME] [--budget TOKENS]
//
// Each turn formats the whole conversation with the model's chat template and prefills only the
// text the KV cache does not hold yet. The context evicts automatically: once a stream holds more
// than --budget tokens (default 256; 0 turns eviction off) plus 16, the policy (default
// "cab") shrinks it back to the budget, so a long conversation goes on in a fixed KV budget.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Text;
using Cab;

internal sealed class Conversation : IDisposable
{
    private const int Seq = 0;
    private const int EvictSlack = 16; // tokens past the budget before an eviction
    private readonly Model model;
    private readonly Context context;
    private readonly string system;
    private readonly List<ChatMessage> turns = new List<ChatMessage>();
    private string cached = ""; // the formatted text whose tokens the sequence holds

    public Conversation(Model model, long contextTokens, string system, string policy, int budget)
    {
        this.model = model;
        this.system = system;
        var parameters = new ContextParams { KvCapacityTokens = contextTokens };
        if (budget > 0)
        {
            parameters.AutoEvict = new EvictParams(policy, budget);
            parameters.AutoEvictSlack = EvictSlack;
        }
        context = new Context(model, parameters);
        Reset();
    }

    public void Reset()
    {
        context.ResetSequence(Seq);
        turns.Clear();
        cached = "";
        if (!string.IsNullOrEmpty(system)) turns.Add(new ChatMessage("system", system));
    }

    /// <summary>Answers one user message, streaming the reply to stdout.</summary>
    public void Turn(string user, int maxTokens)
    {
        turns.Add(new ChatMessage("user", user));
        string formatted = model.FormatChat(turns);
        string pending = formatted;
        if (cached.Length > 0 && formatted.StartsWith(cached, StringComparison.Ordinal))
            pending = formatted.Substring(cached.Length);
        else
            context.ResetSequence(Seq); // the template rewrote earlier text: start over
        int[] tokens = model.Tokenize(pending, TokenizeFlags.ParseSpecial);

        var clock = Stopwatch.StartNew();
        context.Prefill(Seq, tokens);
        double prefillSeconds = clock.Elapsed.TotalSeconds;

        clock.Restart();
        var reply = new List<int>();
        Decoder utf8 = Encoding.UTF8.GetDecoder(); // pieces may split a character
        var chars = new char[64];
        while (reply.Count < maxTokens)
        {
            int token = context.Sample(Seq);
            if (model.IsEndOfGeneration(token)) break;
            byte[] piece = model.TokenToPiece(token);
            int n = utf8.GetChars(piece, 0, piece.Length, chars, 0);
            Console.Write(chars, 0, n);
            reply.Add(token);
            context.Decode(new[] { Seq }, new[] { token });
        }
        Console.WriteLine();
        double decodeSeconds = clock.Elapsed.TotalSeconds;

        string replyText = model.Detokenize(reply.ToArray());
        cached = formatted + replyText;
        turns.Add(new ChatMessage("assistant", replyText));
        KvStats kv = context.KvStats(Seq);
        Console.Error.WriteLine("[prefill {0} tokens, {1:F1} tokens/s; reply {2} tokens, " +
                                "{3:F1} tokens/s; kv {4}; {5} positions, streams hold up to {6}, " +
                                "{7} evicted]", tokens.Length,
                                tokens.Length / Math.Max(prefillSeconds, 1e-9), reply.Count,
                                reply.Count / Math.Max(decodeSeconds, 1e-9), kv,
                                kv.SequenceLength, kv.StreamMax, kv.TokensEvicted);
    }

    /// <summary>
    /// The KV cache is full: without eviction (--budget 0), or with a budget plus slack larger
    /// than --ctx. The conversation starts over and the message is asked again; a message that
    /// does not fit alone ends the program with KvFull (raise --ctx or lower --budget).
    /// </summary>
    public void OnCacheFull()
    {
        Console.Error.WriteLine("(the KV cache is full: the conversation starts over)");
        Reset();
    }

    public void Dispose()
    {
        context.Dispose();
    }
}

internal static class Program
{
    private static int Main(string[] args)
    {
        if (args.Length < 1 || args.Length % 2 == 0)
        {
            Console.Error.WriteLine(
                "usage: mono cab_chat.exe MODEL.gguf [--system TEXT] [--max-tokens N] [--ctx TOKENS] " +
                "[--policy NAME] [--budget TOKENS]");
            return 2;
        }
        string system = "";
        int maxTokens = 256;
        long contextTokens = 4096;
        string policy = "cab";
        int budget = 256;
        for (int i = 1; i < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--system": system = args[i + 1]; break;
                case "--max-tokens": maxTokens = int.Parse(args[i + 1]); break;
                case "--ctx": contextTokens = long.Parse(args[i + 1]); break;
                case "--policy": policy = args[i + 1]; break;
                case "--budget": budget = int.Parse(args[i + 1]); break;
                default:
                    Console.Error.WriteLine("unknown option " + args[i]);
                    return 2;
            }
        }

        try
        {
            using (var model = Model.Load(args[0]))
            using (var conversation = new Conversation(model, contextTokens, system, policy, budget))
            {
                string line;
                while ((line = Console.In.ReadLine()) != null)
                {
                    line = line.Trim();
                    if (line == "/exit") break;
                    if (line == "/reset")
                    {
                        conversation.Reset();
                        continue;
                    }
                    if (line.Length == 0) continue;
                    try
                    {
                        conversation.Turn(line, maxTokens);
                    }
                    catch (CabException e) when (e.Code == Status.KvFull)
                    {
                        Console.WriteLine();
                        conversation.OnCacheFull();
                        conversation.Turn(line, maxTokens);
                    }
                }
            }
            return 0;
        }
        catch (CabException e)
        {
            Console.Error.WriteLine("cab_chat: " + e.Message + " (" + e.Code + ")");
            return 1;
        }
    }
}
