// Tests of the C# binding, run by Mono:
//   mono CabTests.exe path/to/stories260K.gguf path/to/SmolLM2-135M-Instruct.Q4_1.gguf
// Prints one line per test and a closing "N passed, M failed"; exits 1 on any failure.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using Cab;

internal static class CabTests
{
    // llama2.c's encoding of "Once upon a time" (with BOS) and its 30 greedy tokens on
    // stories260K (tools/golden/stories260k_reference.py, as in tests/test_context.cpp).
    private static readonly int[] StoryPrompt = { 1, 403, 407, 261, 378 };
    private static readonly int[] StoryContinuation = {
        432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267,
        337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432 };
    private const string StoryText =
        ", there was a little girl named Lily. She loved to play outside in the park. One day,";

    private static string modelPath;
    private static string chatModelPath;

    private static int Main(string[] args)
    {
        if (args.Length != 2 || !args.All(System.IO.File.Exists))
        {
            Console.Error.WriteLine(
                "usage: mono CabTests.exe path/to/stories260K.gguf " +
                "path/to/SmolLM2-135M-Instruct.Q4_1.gguf (missing: run tools/prepare_models.sh)");
            return 2;
        }
        modelPath = args[0];
        chatModelPath = args[1];
        var tests = new List<KeyValuePair<string, Action>> {
            Test("load: model info", LoadInfo),
            Test("library version matches the header", Version),
            Test("enums match the C ABI's values", EnumsMatchAbi),
            Test("tokenize / detokenize round trip", RoundTrip),
            Test("generate: greedy matches llama2.c", GenerateGreedy),
            Test("generate: seeded sampling repeats", SeededSampling),
            Test("batch decode equals one sequence at a time", BatchDecode),
            Test("kv stats and sequence reset", KvStatsAndReset),
            Test("copy a sequence: the copy continues as the original", CopySequence),
            Test("evict to a budget: kv stats and report agree", EvictToBudget),
            Test("auto eviction keeps the cache under budget + slack", AutoEvict),
            Test("quantize, then evict: int8 blocks counted by type", QuantizeThenEvict),
            Test("error: bad policy -> InvalidArgument naming it", BadPolicy),
            Test("error: bad path -> Io with the path", BadPath),
            Test("error: bad sequence -> InvalidArgument", BadSequence),
            Test("error: logits before prefill -> State", LogitsBeforePrefill),
            Test("error: chat template missing -> Unsupported", NoChatTemplate),
            Test("chat formatting (SmolLM2, ChatML)", FormatChat),
            Test("dispose twice is safe; use after dispose throws", DisposeTwice),
            Test("a context keeps its disposed model alive", ContextOutlivesModel),
        };
        int passed = 0, failed = 0;
        foreach (var t in tests)
        {
            try
            {
                t.Value();
                passed++;
                Console.WriteLine("ok    " + t.Key);
            }
            catch (Exception e)
            {
                failed++;
                Console.WriteLine("FAIL  " + t.Key + ": " + e.GetType().Name + ": " + e.Message);
            }
        }
        Console.WriteLine("{0} passed, {1} failed", passed, failed);
        return failed == 0 ? 0 : 1;
    }

    private static KeyValuePair<string, Action> Test(string name, Action body)
    {
        return new KeyValuePair<string, Action>(name, body);
    }

    private static void Assert(bool condition, string what)
    {
        if (!condition) throw new Exception("expected " + what);
    }

    private static void AssertEqual<T>(T expected, T actual, string what)
    {
        if (!EqualityComparer<T>.Default.Equals(expected, actual))
            throw new Exception(what + ": expected " + expected + ", got " + actual);
    }

    private static CabException Throws(Action body)
    {
        try
        {
            body();
        }
        catch (CabException e)
        {
            return e;
        }
        throw new Exception("expected a CabException");
    }

    private static ContextParams SmallContext(int sequences)
    {
        return new ContextParams {
            Device = Device.Cpu, MaxSequences = sequences, Threads = 2, KvCapacityTokens = 256 };
    }

    private static int Argmax(float[] v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++)
            if (v[i] > v[best]) best = i;
        return best;
    }

    private static void LoadInfo()
    {
        using (var model = Model.Load(modelPath))
        {
            ModelInfo i = model.Info;
            AssertEqual("llama", i.Arch, "arch");
            AssertEqual(512, i.VocabSize, "vocab size");
            AssertEqual(5, i.Layers, "layers");
            AssertEqual(8, i.Heads, "heads");
            AssertEqual(4, i.KvHeads, "kv heads");
            AssertEqual(1, i.Bos, "bos");
            AssertEqual(Device.Cpu, i.Device, "device");
            Assert(i.Parameters > 200000 && i.Parameters < 300000, "about 260K weights");
        }
    }

    private static void Version()
    {
        AssertEqual(Library.BindingVersionNumber, Library.VersionNumber, "version number");
        int v = Library.VersionNumber;
        AssertEqual(string.Format("{0}.{1}.{2}", v / 10000, v / 100 % 100, v % 100),
                    Library.Version, "version string");
    }

    // The public enums restate the C values; compare them with SWIG's (internal) ones.
    private static void EnumsMatchAbi()
    {
        Assembly cab = typeof(Model).Assembly;
        var pairs = new[] {
            Tuple.Create(typeof(Status), "Cab.cab_status"),
            Tuple.Create(typeof(Device), "Cab.cab_device"),
            Tuple.Create(typeof(KvType), "Cab.cab_kv_type"),
            Tuple.Create(typeof(ChatTemplate), "Cab.cab_chat_template"),
            Tuple.Create(typeof(BudgetUnit), "Cab.cab_budget_unit"),
            Tuple.Create(typeof(EvictSelection), "Cab.cab_evict_selection"),
            Tuple.Create(typeof(BudgetAllocation), "Cab.cab_budget_allocation"),
            Tuple.Create(typeof(ScoreSource), "Cab.cab_score_source"),
        };
        foreach (var p in pairs)
        {
            Type raw = cab.GetType(p.Item2, true);
            var mine = Enum.GetValues(p.Item1).Cast<object>().Select(Convert.ToInt64).OrderBy(x => x);
            var theirs = Enum.GetValues(raw).Cast<object>().Select(Convert.ToInt64).OrderBy(x => x);
            Assert(mine.SequenceEqual(theirs), p.Item1.Name + " to have the values of " + p.Item2);
        }
    }

    private static void RoundTrip()
    {
        using (var model = Model.Load(modelPath))
        {
            AssertEqual(string.Join(",", StoryPrompt),
                        string.Join(",", model.Tokenize("Once upon a time")), "prompt tokens");
            foreach (string text in new[] { "Once upon a time, there was a little girl.",
                                            "Zürich — naïve café ✓ 日本" })
            {
                int[] tokens = model.Tokenize(text);
                AssertEqual(model.Info.Bos, tokens[0], "first token");
                AssertEqual(text, model.Detokenize(tokens, DetokenizeFlags.SkipSpecial),
                            "round trip");
                AssertEqual(tokens.Length - 1, model.Tokenize(text, TokenizeFlags.None).Length,
                            "tokens without BOS");
            }
            AssertEqual(0, model.Tokenize("", TokenizeFlags.None).Length, "empty text");
            Assert(model.TokenToPiece(StoryPrompt[1]).Length > 0, "a token's piece");
        }
    }

    private static void GenerateGreedy()
    {
        using (var model = Model.Load(modelPath))
        using (var ctx = new Context(model, SmallContext(1)))
        {
            ctx.Prefill(0, StoryPrompt);
            var generated = new List<int>();
            while (generated.Count < StoryContinuation.Length)
            {
                int token = ctx.Sample(0);
                AssertEqual(Argmax(ctx.Logits(0)), token, "greedy sample is the argmax");
                generated.Add(token);
                ctx.Decode(new[] { 0 }, new[] { token });
            }
            AssertEqual(string.Join(",", StoryContinuation), string.Join(",", generated),
                        "greedy tokens");
            AssertEqual(StoryText, model.Detokenize(generated.ToArray()), "greedy text");
            AssertEqual((long)(StoryPrompt.Length + generated.Count), ctx.SequenceLength(0),
                        "sequence length");
        }
    }

    private static int[] SampleRun(Model model, ulong seed)
    {
        var sp = new SamplerParams { Temperature = 0.9f, TopK = 40, TopP = 0.95f, Seed = seed };
        using (var sampler = new Sampler(sp))
        using (var ctx = new Context(model, SmallContext(1)))
        {
            ctx.Prefill(0, StoryPrompt);
            var tokens = new int[20];
            for (int i = 0; i < tokens.Length; i++)
            {
                tokens[i] = ctx.Sample(0, sampler);
                ctx.Decode(new[] { 0 }, new[] { tokens[i] });
            }
            return tokens;
        }
    }

    private static void SeededSampling()
    {
        using (var model = Model.Load(modelPath))
        {
            int[] a = SampleRun(model, 42), b = SampleRun(model, 42);
            Assert(a.SequenceEqual(b), "the same seed to give the same tokens");
            Assert(a.All(t => t >= 0 && t < model.Info.VocabSize), "tokens in the vocabulary");
        }
    }

    // Three prompts decoded together, step by step, against each decoded alone.
    private static void BatchDecode()
    {
        string[] prompts = { "Once upon a time", "The cat sat", "Tom and Sue went to the park" };
        const int steps = 6;
        using (var model = Model.Load(modelPath))
        {
            var alone = new float[prompts.Length][];
            var aloneTokens = new List<int>[prompts.Length];
            for (int s = 0; s < prompts.Length; s++)
            {
                using (var ctx = new Context(model, SmallContext(1)))
                {
                    ctx.Prefill(0, model.Tokenize(prompts[s]));
                    aloneTokens[s] = new List<int>();
                    for (int i = 0; i < steps; i++)
                    {
                        int token = ctx.Sample(0);
                        aloneTokens[s].Add(token);
                        ctx.Decode(new[] { 0 }, new[] { token });
                    }
                    alone[s] = ctx.Logits(0);
                }
            }
            using (var ctx = new Context(model, SmallContext(prompts.Length)))
            {
                int[] seqs = Enumerable.Range(0, prompts.Length).ToArray();
                foreach (int s in seqs) ctx.Prefill(s, model.Tokenize(prompts[s]));
                for (int i = 0; i < steps; i++)
                {
                    int[] next = seqs.Select(s => ctx.Sample(s)).ToArray();
                    foreach (int s in seqs)
                        AssertEqual(aloneTokens[s][i], next[s], "token of sequence " + s);
                    ctx.Decode(seqs, next);
                }
                foreach (int s in seqs)
                {
                    float[] batched = ctx.Logits(s);
                    double diff = batched.Zip(alone[s], (x, y) => Math.Abs(x - y)).Max();
                    Assert(diff < 1e-3, "batched logits of sequence " + s +
                           " within 1e-3 of decoding it alone (max diff " + diff + ")");
                }
            }
        }
    }

    private static void KvStatsAndReset()
    {
        using (var model = Model.Load(modelPath))
        using (var ctx = new Context(model, SmallContext(2)))
        {
            int streams = model.Info.Layers * model.Info.KvHeads;
            ctx.Prefill(1, StoryPrompt);
            KvStats s = ctx.KvStats(1);
            AssertEqual((long)StoryPrompt.Length, s.SequenceLength, "sequence length");
            AssertEqual((long)(StoryPrompt.Length * streams), s.TokensCached, "tokens cached");
            AssertEqual(StoryPrompt.Length, s.StreamMax, "longest stream");
            Assert(s.BlocksUsed > 0 && s.BytesUsed > 0, "blocks in use");
            int[] lengths = ctx.KvLengths(1);
            AssertEqual(streams, lengths.Length, "one length per stream");
            Assert(lengths.All(n => n == StoryPrompt.Length), "every stream holds the prompt");
            KvStats all = ctx.KvStats();
            AssertEqual(all.BlocksTotal, all.BlocksUsed + all.BlocksFree, "pool accounting");
            ctx.ResetSequence(1);
            AssertEqual(0L, ctx.SequenceLength(1), "length after reset");
            AssertEqual(ctx.KvStats().BlocksTotal, ctx.KvStats().BlocksFree, "all blocks free");
        }
    }

    // The per-sequence figures of KvStats, to compare a sequence before and after a call.
    private static string SequenceFigures(KvStats s)
    {
        return string.Join(",", s.SequenceLength, s.TokensCached, s.StreamMin, s.StreamMax,
                           s.TokensEvicted, s.BlocksUsed, s.BytesUsed);
    }

    private static void CopySequence()
    {
        using (var model = Model.Load(modelPath))
        using (var ctx = new Context(model, SmallContext(3)))
        {
            ctx.Prefill(0, StoryPrompt);
            ctx.CopySequence(0, 1);
            Assert(ctx.Logits(1).SequenceEqual(ctx.Logits(0)), "the copy has the original's logits");
            AssertEqual((long)StoryPrompt.Length, ctx.SequenceLength(1), "the copy's length");
            var generated = new List<int>();
            while (generated.Count < StoryContinuation.Length)
            {
                int token = ctx.Sample(1);
                generated.Add(token);
                ctx.Decode(new[] { 1 }, new[] { token });
            }
            AssertEqual(string.Join(",", StoryContinuation), string.Join(",", generated),
                        "the copy's greedy tokens");

            // Evicting a copy leaves the original as it was.
            string before = SequenceFigures(ctx.KvStats(0));
            ctx.CopySequence(1, 2);
            ctx.Evict(2, new EvictParams("h2o", 8));
            AssertEqual(before, SequenceFigures(ctx.KvStats(0)), "the original after the evicted copy");
            Assert(ctx.KvStats(2).TokensEvicted > 0, "the copy was evicted");

            CabException e = Throws(() => ctx.CopySequence(2, 2));
            AssertEqual(Status.InvalidArgument, e.Code, "copy onto itself");
            Assert(e.Message.Contains("src and dst"), "the message to name them: " + e.Message);
            AssertEqual(Status.InvalidArgument, Throws(() => ctx.CopySequence(0, 3)).Code,
                        "bad dst");
            // 200 tokens need 13 of the 16 blocks per stream: a second copy does not fit.
            ctx.ResetSequence(1);
            ctx.Prefill(0, Enumerable.Range(0, 195).Select(i => 3 + i * 7 % 500).ToArray());
            before = SequenceFigures(ctx.KvStats(2));
            AssertEqual(Status.KvFull, Throws(() => ctx.CopySequence(0, 2)).Code, "a copy too large");
            AssertEqual(before, SequenceFigures(ctx.KvStats(2)), "KvFull leaves dst as it was");
        }
    }

    private static ContextParams EvictContext(EvictParams autoEvict)
    {
        return new ContextParams {
            Device = Device.Cpu, Threads = 2, KvCapacityTokens = 128, AutoEvict = autoEvict,
            AutoEvictSlack = 8 };
    }

    private static void QuantizeThenEvict()
    {
        AssertEqual(KvQ8Type.Int8, new ContextParams().KvQ8Type, "default 8-bit type");
        // Both 8-bit types take the same blocks and bytes.
        QuantizeThenEvict(KvQ8Type.Int8);
        QuantizeThenEvict(KvQ8Type.Fp8E4M3);
    }

    private static void QuantizeThenEvict(KvQ8Type q8Type)
    {
        using (var model = Model.Load(modelPath))
        using (var ctx = new Context(model, new ContextParams {
                   Device = Device.Cpu, Threads = 2, KvCapacityTokens = 128,
                   KvQ8CapacityTokens = 128, KvQ8Type = q8Type }))
        {
            long streams = model.Info.Layers * model.Info.KvHeads;
            ctx.Prefill(0, StoryPrompt);
            Generate(ctx, 35);
            KvStats before = ctx.KvStats(0);
            AssertEqual(0L, before.Q8BlocksUsed, "no int8 blocks before");
            var p = new EvictParams("quantize+h2o", 24) { QuantizeRecent = 8 };
            EvictReport r = ctx.Evict(0, p);
            KvStats after = ctx.KvStats(0);
            // 40 tokens, the last 8 recent: two whole blocks of 16 per stream go to 8-bit blocks.
            AssertEqual(32 * streams, r.TokensQuantized, q8Type + ": tokens quantized");
            AssertEqual(24 * streams, r.TokensKept, "tokens kept");
            Assert(after.Q8BlocksUsed > 0 && after.Q8BytesUsed > 0, "int8 blocks in use");
            AssertEqual(before.BytesUsed, after.BytesUsed + r.BytesFreed, "bytes by type add up");
            Generate(ctx, 5);
        }
    }

    private static void Generate(Context ctx, int steps)
    {
        for (int i = 0; i < steps; i++)
            ctx.Decode(new[] { 0 }, new[] { ctx.Sample(0) });
    }

    private static void EvictToBudget()
    {
        using (var model = Model.Load(modelPath))
        using (var ctx = new Context(model, EvictContext(null)))
        {
            long streams = model.Info.Layers * model.Info.KvHeads;
            ctx.Prefill(0, StoryPrompt);
            Generate(ctx, 35);
            KvStats before = ctx.KvStats(0);
            AssertEqual(40 * streams, before.TokensCached, "tokens cached before");
            var p = new EvictParams("h2o", 16);
            AssertEqual(4, p.Sinks, "defaults from cab_evict_default_params");
            AssertEqual("cab", new EvictParams().Policy, "default policy");
            EvictReport r = ctx.Evict(0, p);
            KvStats after = ctx.KvStats(0);
            AssertEqual(before.TokensCached, r.TokensBefore, "report: tokens before");
            AssertEqual(16 * streams, r.TokensKept, "report: tokens kept");
            AssertEqual(after.TokensCached, r.TokensKept, "stats agree with the report");
            AssertEqual(r.TokensBefore - r.TokensKept, r.TokensEvicted, "report: evicted");
            AssertEqual(r.TokensEvicted, after.TokensEvicted, "stats: evicted");
            AssertEqual(before.BlocksUsed - after.BlocksUsed, r.BlocksFreed, "blocks freed");
            Assert(r.BlocksFreed > 0 && r.BytesFreed > 0, "memory freed");
            AssertEqual(16, after.StreamMax, "longest stream");
            AssertEqual(40L, after.SequenceLength, "positions kept");
            int[] positions = ctx.KvPositions(0, 2, 1);
            AssertEqual(16, positions.Length, "positions");
            Assert(positions.Take(4).SequenceEqual(new[] { 0, 1, 2, 3 }), "the sinks stay");
            Assert(positions.Zip(positions.Skip(1), (a, b) => a < b).All(x => x), "increasing");
            KvScores scores = ctx.KvScores(0, 2, 1);
            AssertEqual(16, scores.Score.Length, "scores");
            AssertEqual(16, scores.Window.Length, "window scores");
            Assert(scores.Score.All(x => x > 0) && scores.Observers.All(x => x >= 1),
                   "every kept token was attended");
            Generate(ctx, 10);
            KvStats s = ctx.KvStats(0);
            AssertEqual(50L, s.SequenceLength, "generation goes on");
            AssertEqual(26, s.StreamMax, "streams grow from the budget");
        }
    }

    private static void AutoEvict()
    {
        const int budget = 24;
        using (var model = Model.Load(modelPath))
        using (var ctx = new Context(model, EvictContext(new EvictParams("window", budget))))
        {
            ctx.Prefill(0, StoryPrompt);
            for (int i = 0; i < 300; i++)
            {
                Generate(ctx, 1);
                KvStats s = ctx.KvStats(0);
                Assert(s.StreamMax <= budget + 8, s.StreamMax + " tokens in a stream at " + s.SequenceLength);
            }
            KvStats end = ctx.KvStats(0);
            AssertEqual(305L, end.SequenceLength, "sequence length");
            Assert(end.TokensEvicted > 0, "tokens evicted");
        }
    }

    private static void BadPolicy()
    {
        using (var model = Model.Load(modelPath))
        using (var ctx = new Context(model, EvictContext(null)))
        {
            ctx.Prefill(0, StoryPrompt);
            CabException e = Throws(() => ctx.Evict(0, new EvictParams("no-such-policy", 4)));
            AssertEqual(Status.InvalidArgument, e.Code, "status");
            Assert(e.Message.Contains("no-such-policy"), "message names the policy: " + e.Message);
            e = Throws(() => new Context(model, EvictContext(new EvictParams("lru", 16))));
            AssertEqual(Status.InvalidArgument, e.Code, "status at create");
            Assert(e.Message.Contains("lru"), "message names the policy: " + e.Message);
        }
    }

    private static void BadPath()
    {
        const string path = "/nonexistent/dir/missing-model.gguf";
        CabException e = Throws(() => Model.Load(path));
        AssertEqual(Status.Io, e.Code, "status");
        Assert(e.Message.Contains(path), "the message to name the path: " + e.Message);
    }

    private static void BadSequence()
    {
        using (var model = Model.Load(modelPath))
        using (var ctx = new Context(model, SmallContext(1)))
        {
            CabException e = Throws(() => ctx.Prefill(3, StoryPrompt));
            AssertEqual(Status.InvalidArgument, e.Code, "prefill status");
            Assert(e.Message.Contains("seq"), "the message to name seq: " + e.Message);
            e = Throws(() => ctx.Decode(new[] { -2 }, new[] { 5 }));
            AssertEqual(Status.InvalidArgument, e.Code, "decode status");
            e = Throws(() => ctx.Prefill(0, new[] { 1, 100000 }));
            AssertEqual(Status.InvalidArgument, e.Code, "unknown token status");
            AssertEqual(0L, ctx.SequenceLength(0), "failed prefill changes nothing");
        }
    }

    private static void LogitsBeforePrefill()
    {
        using (var model = Model.Load(modelPath))
        using (var ctx = new Context(model, SmallContext(1)))
        {
            AssertEqual(Status.State, Throws(() => ctx.Logits(0)).Code, "logits status");
            AssertEqual(Status.State, Throws(() => ctx.Sample(0)).Code, "sample status");
        }
    }

    private static void NoChatTemplate()
    {
        using (var model = Model.Load(modelPath))
        {
            AssertEqual(ChatTemplate.None, model.Info.ChatTemplate, "template");
            var messages = new[] { new ChatMessage("user", "hi") };
            AssertEqual(Status.Unsupported, Throws(() => model.FormatChat(messages)).Code,
                        "format status");
        }
    }

    private static void FormatChat()
    {
        using (var model = Model.Load(chatModelPath))
        {
            AssertEqual(ChatTemplate.ChatML, model.Info.ChatTemplate, "template");
            string text = model.FormatChat(new[] {
                new ChatMessage("system", "Be brief."), new ChatMessage("user", "Hi"),
                new ChatMessage("assistant", "Hello!"), new ChatMessage("user", "Bye ✓") });
            AssertEqual("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n" +
                        "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye ✓" +
                        "<|im_end|>\n<|im_start|>assistant\n", text, "formatted chat");
            int[] tokens = model.Tokenize(text, TokenizeFlags.ParseSpecial);
            AssertEqual("<|im_start|>", System.Text.Encoding.UTF8.GetString(
                model.TokenToPiece(tokens[0])), "first token");
            Assert(model.IsEndOfGeneration(model.Info.Eot), "end of turn ends generation");
            CabException e = Throws(() => model.FormatChat(new[] { new ChatMessage("narrator", "x") }));
            AssertEqual(Status.InvalidArgument, e.Code, "bad role status");
            Assert(e.Message.Contains("narrator"), "the message to name the role: " + e.Message);
        }
    }

    private static void DisposeTwice()
    {
        var model = Model.Load(modelPath);
        var ctx = new Context(model, SmallContext(1));
        var sampler = new Sampler();
        ctx.Dispose();
        ctx.Dispose();
        sampler.Dispose();
        sampler.Dispose();
        model.Dispose();
        model.Dispose();
        bool threw = false;
        try
        {
            ctx.Prefill(0, StoryPrompt);
        }
        catch (ObjectDisposedException)
        {
            threw = true;
        }
        Assert(threw, "ObjectDisposedException after Dispose");
    }

    private static void ContextOutlivesModel()
    {
        var model = Model.Load(modelPath);
        var ctx = new Context(model, SmallContext(1));
        model.Dispose();
        ctx.Prefill(0, StoryPrompt);
        AssertEqual(StoryContinuation[0], ctx.Sample(0), "first greedy token");
        ctx.Dispose();
        // Forgotten handles are released by their finalizers.
        new Context(Model.Load(modelPath), SmallContext(1)).Prefill(0, StoryPrompt);
        GC.Collect();
        GC.WaitForPendingFinalizers();
    }
}
