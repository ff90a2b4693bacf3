// A chat loop over the C# binding: reads one user message per line from stdin and streams the
// model's reply. "/reset" starts over, "/exit" or the end of input quits.
//
//   mono cab_chat.exe MODEL.gguf [--system TEXT] [--max-tokens N] [--ctx TOKENS]
//
// Each turn formats the whole conversation with the model's chat template and prefills only the
// text the KV cache does not hold yet.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Text;
using Cab;

internal sealed class Conversation : IDisposable
{
    private const int Seq = 0;
    private readonly Model model;
    private readonly Context context;
    private readonly string system;
    private readonly List<ChatMessage> turns = new List<ChatMessage>();
    private string cached = ""; // the formatted text whose tokens the sequence holds

    public Conversation(Model model, long contextTokens, string system)
    {
        this.model = model;
        this.system = system;
        // Eviction hook: the next release sets an automatic eviction policy and budget here
        // (ContextParams), so that a long conversation stays within the KV budget instead of
        // filling the cache and starting over (see OnCacheFull).
        context = new Context(model, new ContextParams { KvCapacityTokens = contextTokens });
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
        Console.Error.WriteLine("[prefill {0} tokens, {1:F1} tokens/s; reply {2} tokens, " +
                                "{3:F1} tokens/s; kv {4}]", tokens.Length,
                                tokens.Length / Math.Max(prefillSeconds, 1e-9), reply.Count,
                                reply.Count / Math.Max(decodeSeconds, 1e-9),
                                context.KvStats(Seq));
    }

    /// <summary>
    /// The KV cache is full. Until automatic eviction arrives (next release), the conversation
    /// starts over and the message is asked again; a message that does not fit alone ends the
    /// program with KvFull (raise --ctx).
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
                "usage: mono cab_chat.exe MODEL.gguf [--system TEXT] [--max-tokens N] [--ctx TOKENS]");
            return 2;
        }
        string system = "";
        int maxTokens = 256;
        long contextTokens = 4096;
        for (int i = 1; i < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--system": system = args[i + 1]; break;
                case "--max-tokens": maxTokens = int.Parse(args[i + 1]); break;
                case "--ctx": contextTokens = long.Parse(args[i + 1]); break;
                default:
                    Console.Error.WriteLine("unknown option " + args[i]);
                    return 2;
            }
        }

        try
        {
            using (var model = Model.Load(args[0]))
            using (var conversation = new Conversation(model, contextTokens, system))
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
