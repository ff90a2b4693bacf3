// A context: a KV block pool and up to MaxSequences sequences over one model. Use it from one
// thread at a time.
using System;
using System.Runtime.InteropServices;

namespace Cab
{
    public sealed class Context : IDisposable
    {
        /// <summary>Pass as a sequence to ask about the whole context (CAB_SEQ_ALL).</summary>
        public const int AllSequences = -1;

        private readonly ContextHandle handle;
        private readonly int vocabSize;

        /// <summary>
        /// Creates a context and allocates its KV pool. The context keeps the model alive.
        /// Throws CabException: InvalidArgument, OutOfMemory, Unsupported.
        /// </summary>
        public Context(Model model, ContextParams parameters = null)
        {
            if (model == null) throw new ArgumentNullException("model");
            IntPtr ptr;
            using (var m = model.Handle.Use())
            {
                parameters = parameters ?? new ContextParams();
                using (var p = parameters.ToNative())
                using (var evict = parameters.AutoEvict != null ? parameters.AutoEvict.ToNative() : null)
                {
                    // cab_ctx_create copies the eviction options, policy name included.
                    if (evict != null) p.auto_evict = evict.Params;
                    Errors.Check(CabNative.cab_ctx_create(m.Ptr, p, out ptr));
                }
                handle = new ContextHandle(ptr, model.Handle);
            }
            Model = model;
            vocabSize = model.Info.VocabSize;
        }

        public Model Model { get; private set; }

        /// <summary>
        /// Appends prompt tokens to sequence <paramref name="seq"/> and runs them; afterwards
        /// <see cref="Logits"/> gives the last token's next-token logits. KvFull leaves the
        /// sequence as it was.
        /// </summary>
        public void Prefill(int seq, int[] tokens)
        {
            if (tokens == null) throw new ArgumentNullException("tokens");
            using (var h = handle.Use())
                Errors.Check(CabNative.cab_prefill(h.Ptr, seq, tokens, (ulong)tokens.Length));
        }

        /// <summary>
        /// One batched decode step: tokens[i] is appended to seqs[i] (each sequence at most once).
        /// </summary>
        public void Decode(int[] seqs, int[] tokens)
        {
            if (seqs == null) throw new ArgumentNullException("seqs");
            if (tokens == null) throw new ArgumentNullException("tokens");
            if (seqs.Length != tokens.Length)
                throw new ArgumentException("seqs and tokens differ in length");
            using (var h = handle.Use())
                Errors.Check(CabNative.cab_decode(h.Ptr, seqs, tokens, (ulong)seqs.Length));
        }

        /// <summary>A copy of the next-token logits of <paramref name="seq"/> (VocabSize floats).</summary>
        public float[] Logits(int seq)
        {
            var logits = new float[vocabSize];
            CopyLogits(seq, logits);
            return logits;
        }

        /// <summary>Copies the next-token logits of <paramref name="seq"/> into <paramref name="destination"/>.</summary>
        public void CopyLogits(int seq, float[] destination)
        {
            if (destination == null) throw new ArgumentNullException("destination");
            if (destination.Length < vocabSize)
                throw new ArgumentException("destination holds fewer than VocabSize floats");
            using (var h = handle.Use())
            {
                IntPtr logits;
                Errors.Check(CabNative.cab_logits(h.Ptr, seq, out logits));
                Marshal.Copy(logits, destination, 0, vocabSize);
            }
        }

        /// <summary>Picks the next token of <paramref name="seq"/>; a null sampler is greedy.</summary>
        public int Sample(int seq, Sampler sampler = null)
        {
            using (var h = handle.Use())
            {
                int token;
                if (sampler == null)
                {
                    Errors.Check(CabNative.cab_sample(h.Ptr, seq, IntPtr.Zero, out token));
                    return token;
                }
                using (var s = sampler.Handle.Use())
                    Errors.Check(CabNative.cab_sample(h.Ptr, seq, s.Ptr, out token));
                return token;
            }
        }

        /// <summary>Tokens the sequence has taken so far (its next position).</summary>
        public long SequenceLength(int seq)
        {
            using (var h = handle.Use())
            {
                long length;
                Errors.Check(CabNative.cab_seq_length(h.Ptr, seq, out length));
                return length;
            }
        }

        /// <summary>Drops a sequence: its KV blocks go back to the pool, its positions restart.</summary>
        public void ResetSequence(int seq)
        {
            using (var h = handle.Use())
                Errors.Check(CabNative.cab_seq_reset(h.Ptr, seq));
        }

        /// <summary>
        /// Makes <paramref name="dst"/> an independent copy of <paramref name="src"/>: its KV
        /// cache and scores, its tokens and next position, and its logits (Logits and Sample give
        /// for dst what they give for src). What dst held is dropped. The pool must have as many
        /// free blocks as src uses, else CabException KvFull and dst is left as it was
        /// (ResetSequence dst first to free its blocks). Prefill once, copy, and continue the
        /// copies in different ways (other eviction policies or budgets).
        /// </summary>
        public void CopySequence(int src, int dst)
        {
            using (var h = handle.Use())
                Errors.Check(CabNative.cab_seq_copy(h.Ptr, src, dst));
        }

        /// <summary>KV-cache figures of one sequence, or of the whole context for AllSequences.</summary>
        public KvStats KvStats(int seq = AllSequences)
        {
            using (var h = handle.Use())
            using (var stats = new cab_kv_stats())
            {
                Errors.Check(CabNative.cab_kv_stats_get(h.Ptr, seq, stats));
                return new KvStats(stats);
            }
        }

        /// <summary>Tokens cached per stream of a sequence, indexed layer * KvHeads + head.</summary>
        public int[] KvLengths(int seq)
        {
            using (var h = handle.Use())
            {
                IntPtr ctx = h.Ptr;
                return Buffers.Fill<int>(
                    (int[] buf, ulong cap, out ulong n) =>
                        CabNative.cab_kv_lengths(ctx, seq, buf, cap, out n),
                    Model.Info.Layers * Model.Info.KvHeads);
            }
        }

        /// <summary>
        /// Shrinks the KV cache of a sequence to the budget with a policy; the sequence goes on
        /// from where it was. Throws CabException InvalidArgument naming a bad field (an unknown
        /// policy, say).
        /// </summary>
        public EvictReport Evict(int seq, EvictParams parameters)
        {
            if (parameters == null) throw new ArgumentNullException("parameters");
            using (var h = handle.Use())
            using (var p = parameters.ToNative())
            using (var report = new cab_evict_report())
            {
                Errors.Check(CabNative.cab_evict(h.Ptr, seq, p.Params, report));
                return new EvictReport(report);
            }
        }

        /// <summary>
        /// The original positions of the tokens cached in one (layer, kv head) stream, in cache
        /// order; eviction removes entries and never renumbers them.
        /// </summary>
        public int[] KvPositions(int seq, int layer, int head)
        {
            int guess = (int)SequenceLength(seq);
            using (var h = handle.Use())
            {
                IntPtr ctx = h.Ptr;
                return Buffers.Fill<int>(
                    (int[] buf, ulong cap, out ulong n) =>
                        CabNative.cab_kv_positions(ctx, seq, layer, head, buf, cap, out n),
                    guess);
            }
        }

        /// <summary>The attention scores of one stream's cached tokens, in KvPositions order.</summary>
        public KvScores KvScores(int seq, int layer, int head)
        {
            int cap = (int)SequenceLength(seq);
            using (var h = handle.Use())
            {
                while (true)
                {
                    var score = new float[cap];
                    var observers = new float[cap];
                    var window = new float[cap];
                    ulong n;
                    var status = CabNative.cab_kv_scores(h.Ptr, seq, layer, head, score, observers,
                                                         window, (ulong)cap, out n);
                    if (status == cab_status.CAB_ERR_BUFFER_TOO_SMALL && (int)n > cap)
                    {
                        cap = (int)n;
                        continue;
                    }
                    Errors.Check(status);
                    Array.Resize(ref score, (int)n);
                    Array.Resize(ref observers, (int)n);
                    Array.Resize(ref window, (int)n);
                    return new KvScores(score, observers, window);
                }
            }
        }

        /// <summary>Destroys the context and frees its KV pool. Safe to call twice.</summary>
        public void Dispose()
        {
            handle.Dispose();
        }
    }
}
