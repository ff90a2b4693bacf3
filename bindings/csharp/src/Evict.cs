// KV-cache eviction (cab_evict): which policy keeps which tokens, to what budget, and what one
// eviction did. docs/POLICIES.md describes the policies and their options.
using System;
using System.Runtime.InteropServices;
using System.Text;

namespace Cab
{
    /// <summary>How EvictParams gives the budget (cab_budget_unit).</summary>
    public enum BudgetUnit
    {
        /// <summary>BudgetTokens per (layer, kv head) stream.</summary>
        Tokens = 0,
        /// <summary>BudgetRatio of each stream's length (automatic eviction: of the sequence's).</summary>
        Ratio = 1,
    }

    /// <summary>Which unit a policy selects over (cab_evict_selection).</summary>
    public enum EvictSelection
    {
        PerHead = 0,
        SharedPerLayer = 1,
    }

    /// <summary>How the budget is shared among a sequence's streams (cab_budget_allocation).</summary>
    public enum BudgetAllocation
    {
        Uniform = 0,
        Pyramid = 1,
        Adaptive = 2,
    }

    /// <summary>Which attention scores h2o, cab and cab-frc rank by (cab_score_source).</summary>
    public enum ScoreSource
    {
        Cumulative = 0,
        Window = 1,
    }

    /// <summary>
    /// Options of Context.Evict and of automatic eviction (ContextParams.AutoEvict)
    /// (cab_evict_params); a new instance holds cab_evict_default_params.
    /// </summary>
    public sealed class EvictParams
    {
        public EvictParams()
        {
            using (var p = new cab_evict_params())
            {
                Policy = p.policy_name();
                BudgetUnit = (BudgetUnit)(int)p.budget_unit;
                BudgetTokens = p.budget_tokens;
                BudgetRatio = p.budget_ratio;
                Sinks = p.n_sinks;
                Recent = p.n_recent;
                Selection = (EvictSelection)(int)p.selection;
                Allocation = (BudgetAllocation)(int)p.allocation;
                MinBudget = p.min_budget;
                PyramidBeta = p.pyramid_beta;
                Seed = p.seed;
                H2oNormalize = p.h2o_normalize != 0;
                H2oRecentRatio = p.h2o_recent_ratio;
                SnapKvWindow = p.snapkv_window;
                SnapKvKernel = p.snapkv_kernel;
                CabRLocal = p.cab_r_local;
                CabRBridge = p.cab_r_bridge;
                ScoreSource = (ScoreSource)(int)p.score_source;
                FrcBlock = p.frc_block;
                FrcMaxBlocks = p.frc_max_blocks;
                ChunkKvChunk = p.chunkkv_chunk;
                SnapKvShift = p.snapkv_shift;
                SnapKvInherit = p.snapkv_inherit;
                QuantizeRecent = p.quantize_recent;
            }
        }

        /// <summary>The defaults with a policy and a budget of tokens per stream.</summary>
        public EvictParams(string policy, int budgetTokens) : this()
        {
            Policy = policy;
            BudgetUnit = BudgetUnit.Tokens;
            BudgetTokens = budgetTokens;
        }

        /// <summary>
        /// "full", "random", "window", "h2o", "tova", "snapkv", "cab", "cab-frc" or "chunkkv"; or
        /// "quantize" / "quantize+&lt;policy&gt;": old tokens to int8 blocks first
        /// (ContextParams.KvQ8CapacityTokens).
        /// </summary>
        public string Policy { get; set; }
        public BudgetUnit BudgetUnit { get; set; }
        /// <summary>Tokens kept per stream; default 256.</summary>
        public int BudgetTokens { get; set; }
        /// <summary>Share kept, in [0, 1]; default 0.5.</summary>
        public double BudgetRatio { get; set; }
        /// <summary>First tokens always kept; default 4.</summary>
        public int Sinks { get; set; }
        /// <summary>Most recent tokens always kept; default 0.</summary>
        public int Recent { get; set; }
        public EvictSelection Selection { get; set; }
        public BudgetAllocation Allocation { get; set; }
        public int MinBudget { get; set; }
        public float PyramidBeta { get; set; }
        public ulong Seed { get; set; }
        public bool H2oNormalize { get; set; }
        public float H2oRecentRatio { get; set; }
        public int SnapKvWindow { get; set; }
        public int SnapKvKernel { get; set; }
        public float CabRLocal { get; set; }
        public float CabRBridge { get; set; }
        public ScoreSource ScoreSource { get; set; }
        public int FrcBlock { get; set; }
        public int FrcMaxBlocks { get; set; }
        /// <summary>chunkkv: tokens per chunk; default 16.</summary>
        public int ChunkKvChunk { get; set; }
        /// <summary>snapkv: the pool window moves this many slots back, so it reaches further
        /// after a hit; 0..SnapKvKernel/2, default 0.</summary>
        public int SnapKvShift { get; set; }
        /// <summary>snapkv: share of the layers, from the first, that rank by the deeper layers'
        /// window score instead of their own; in [0, 1), default 0 (off).</summary>
        public float SnapKvInherit { get; set; }
        /// <summary>quantize policies: the most recent tokens per stream kept in full precision;
        /// default 64.</summary>
        public int QuantizeRecent { get; set; }

        internal NativeEvictParams ToNative()
        {
            if (Policy == null) throw new ArgumentNullException("Policy");
            var n = new NativeEvictParams(Policy);
            var p = n.Params;
            p.budget_unit = (cab_budget_unit)(int)BudgetUnit;
            p.budget_tokens = BudgetTokens;
            p.budget_ratio = BudgetRatio;
            p.n_sinks = Sinks;
            p.n_recent = Recent;
            p.selection = (cab_evict_selection)(int)Selection;
            p.allocation = (cab_budget_allocation)(int)Allocation;
            p.min_budget = MinBudget;
            p.pyramid_beta = PyramidBeta;
            p.seed = Seed;
            p.h2o_normalize = H2oNormalize ? 1 : 0;
            p.h2o_recent_ratio = H2oRecentRatio;
            p.snapkv_window = SnapKvWindow;
            p.snapkv_kernel = SnapKvKernel;
            p.cab_r_local = CabRLocal;
            p.cab_r_bridge = CabRBridge;
            p.score_source = (cab_score_source)(int)ScoreSource;
            p.frc_block = FrcBlock;
            p.frc_max_blocks = FrcMaxBlocks;
            p.chunkkv_chunk = ChunkKvChunk;
            p.snapkv_shift = SnapKvShift;
            p.snapkv_inherit = SnapKvInherit;
            p.quantize_recent = QuantizeRecent;
            return n;
        }
    }

    /// <summary>
    /// A native cab_evict_params and the UTF-8 copy of its policy name, both owned here: the
    /// struct only borrows the name's address (see bindings/swig/cab.i), and Dispose frees both
    /// once the call that reads them has returned.
    /// </summary>
    internal sealed class NativeEvictParams : IDisposable
    {
        private IntPtr policy;

        internal NativeEvictParams(string policyName)
        {
            byte[] utf8 = Encoding.UTF8.GetBytes(policyName);
            Params = new cab_evict_params();
            policy = Marshal.AllocHGlobal(utf8.Length + 1);
            Marshal.Copy(utf8, 0, policy, utf8.Length);
            Marshal.WriteByte(policy, utf8.Length, 0);
            Params.set_policy_address((ulong)policy.ToInt64());
        }

        internal cab_evict_params Params { get; private set; }

        public void Dispose()
        {
            Params.Dispose();
            if (policy != IntPtr.Zero) Marshal.FreeHGlobal(policy);
            policy = IntPtr.Zero;
        }
    }

    /// <summary>What one Context.Evict did, summed over the sequence's streams (cab_evict_report).</summary>
    public sealed class EvictReport
    {
        internal EvictReport(cab_evict_report r)
        {
            TokensBefore = r.tokens_before;
            TokensKept = r.tokens_kept;
            TokensEvicted = r.tokens_evicted;
            BlocksFreed = r.blocks_freed;
            BytesFreed = r.bytes_freed;
            TokensQuantized = r.tokens_quantized;
        }

        public long TokensBefore { get; private set; }
        public long TokensKept { get; private set; }
        /// <summary>TokensBefore - TokensKept.</summary>
        public long TokensEvicted { get; private set; }
        /// <summary>KV blocks returned to the pool, both types.</summary>
        public long BlocksFreed { get; private set; }
        public ulong BytesFreed { get; private set; }
        /// <summary>Tokens moved to int8 blocks (quantize policies).</summary>
        public long TokensQuantized { get; private set; }
    }

    /// <summary>
    /// The attention scores of one stream's cached tokens, in Context.KvPositions order
    /// (cab_kv_scores).
    /// </summary>
    public sealed class KvScores
    {
        internal KvScores(float[] score, float[] observers, float[] window)
        {
            Score = score;
            Observers = observers;
            Window = window;
        }

        /// <summary>Softmax mass every query gave the token since it was cached.</summary>
        public float[] Score { get; private set; }
        /// <summary>How many queries could see it.</summary>
        public float[] Observers { get; private set; }
        /// <summary>The same sum over the last ScoreWindow queries of the latest prefill chunk.</summary>
        public float[] Window { get; private set; }
    }
}
