// Options of models, contexts and samplers. Each starts from the library's own defaults
// (cab_*_default_params) and is copied into a fresh native struct for the call, so a field added
// to the C struct is one property here plus one line in ToNative.
namespace Cab
{
    /// <summary>Options of <see cref="Model.Load"/> (cab_model_params).</summary>
    public sealed class ModelParams
    {
        public ModelParams()
        {
            using (var p = new cab_model_params())
            {
                Device = (Device)(int)p.device;
                GpuIndex = p.gpu_index;
            }
        }

        /// <summary>Where the weights go (default Auto).</summary>
        public Device Device { get; set; }

        /// <summary>Which GPU for Cuda/Auto (default 0).</summary>
        public int GpuIndex { get; set; }

        internal cab_model_params ToNative()
        {
            var p = new cab_model_params();
            p.device = (cab_device)(int)Device;
            p.gpu_index = GpuIndex;
            return p;
        }
    }

    /// <summary>Options of a <see cref="Context"/> (cab_ctx_params).</summary>
    public sealed class ContextParams
    {
        public ContextParams()
        {
            using (var p = new cab_ctx_params())
            {
                Device = (Device)(int)p.device;
                MaxSequences = p.n_seq_max;
                Threads = p.n_threads;
                KvCapacityTokens = p.kv_capacity_tokens;
                KvBlockSize = p.kv_block_size;
                KvType = (KvType)(int)p.kv_type;
                PrefillChunk = p.prefill_chunk;
                AutoEvictSlack = p.auto_evict_slack;
                ScoreWindow = p.score_window;
                KvQ8CapacityTokens = p.kv_q8_capacity_tokens;
                KvQ8Type = (KvQ8Type)(int)p.kv_q8_type;
            }
        }

        /// <summary>Default Auto: follows the model.</summary>
        public Device Device { get; set; }

        /// <summary>Sequences the context holds at once, numbered from 0 (n_seq_max; default 1).</summary>
        public int MaxSequences { get; set; }

        /// <summary>CPU threads (also for eviction's host-side selections); 0 = every core
        /// (n_threads; default 0).</summary>
        public int Threads { get; set; }

        /// <summary>
        /// KV pool size: tokens of every layer and kv head of all sequences together
        /// (kv_capacity_tokens; default 4096).
        /// </summary>
        public long KvCapacityTokens { get; set; }

        /// <summary>Tokens per KV block (kv_block_size; default 16).</summary>
        public int KvBlockSize { get; set; }

        /// <summary>Element type of the KV cache (default Auto).</summary>
        public KvType KvType { get; set; }

        /// <summary>Most tokens per prefill forward pass (prefill_chunk; default 512).</summary>
        public int PrefillChunk { get; set; }

        /// <summary>
        /// Automatic eviction: null (the default) turns it off. Copied when the context is
        /// created: a sequence more than AutoEvictSlack tokens (per stream, on average) over the
        /// budget is evicted to it before its next step; prompts are prefilled in chunks that
        /// keep them within budget + slack.
        /// </summary>
        public EvictParams AutoEvict { get; set; }

        /// <summary>Tokens past the budget before automatic eviction fires; >= 1, default 64.</summary>
        public int AutoEvictSlack { get; set; }

        /// <summary>The last queries of each prefill chunk that make the window score; default 32.</summary>
        public int ScoreWindow { get; set; }

        /// <summary>
        /// Int8 KV blocks for this many tokens per stream on top of KvCapacityTokens
        /// (kv_q8_capacity_tokens; default 0: none). The "quantize" policies of Evict and AutoEvict
        /// fill them.
        /// </summary>
        public long KvQ8CapacityTokens { get; set; }

        /// <summary>Element type of those blocks (kv_q8_type; default Int8).</summary>
        public KvQ8Type KvQ8Type { get; set; }

        internal cab_ctx_params ToNative()
        {
            var p = new cab_ctx_params();
            p.device = (cab_device)(int)Device;
            p.n_seq_max = MaxSequences;
            p.n_threads = Threads;
            p.kv_capacity_tokens = KvCapacityTokens;
            p.kv_block_size = KvBlockSize;
            p.kv_type = (cab_kv_type)(int)KvType;
            p.prefill_chunk = PrefillChunk;
            p.auto_evict_slack = AutoEvictSlack;
            p.score_window = ScoreWindow;
            p.kv_q8_capacity_tokens = KvQ8CapacityTokens;
            p.kv_q8_type = (cab_kv_q8_type)(int)KvQ8Type;
            return p;
        }
    }

    /// <summary>Options of a <see cref="Sampler"/> (cab_sampler_params). The defaults are greedy.</summary>
    public sealed class SamplerParams
    {
        public SamplerParams()
        {
            using (var p = new cab_sampler_params())
            {
                Temperature = p.temperature;
                TopK = p.top_k;
                TopP = p.top_p;
                MinP = p.min_p;
                RepeatPenalty = p.repeat_penalty;
                RepeatLastN = p.repeat_last_n;
                Seed = p.seed;
            }
        }

        /// <summary>0 = greedy (argmax).</summary>
        public float Temperature { get; set; }

        /// <summary>Keep the k most likely tokens; 0 = off.</summary>
        public int TopK { get; set; }

        /// <summary>Nucleus: the smallest set with mass at least TopP; 1 = off.</summary>
        public float TopP { get; set; }

        /// <summary>Drop tokens below MinP times p(best); 0 = off.</summary>
        public float MinP { get; set; }

        /// <summary>CTRL-style penalty on recent tokens; 1 = off.</summary>
        public float RepeatPenalty { get; set; }

        /// <summary>How many recent tokens the penalty looks at.</summary>
        public int RepeatLastN { get; set; }

        /// <summary>RNG seed: the same seed gives the same samples.</summary>
        public ulong Seed { get; set; }

        internal cab_sampler_params ToNative()
        {
            var p = new cab_sampler_params();
            p.temperature = Temperature;
            p.top_k = TopK;
            p.top_p = TopP;
            p.min_p = MinP;
            p.repeat_penalty = RepeatPenalty;
            p.repeat_last_n = RepeatLastN;
            p.seed = Seed;
            return p;
        }
    }
}
