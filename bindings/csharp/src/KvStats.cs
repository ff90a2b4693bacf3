// KV-cache figures of one sequence or of the whole context (cab_kv_stats).
namespace Cab
{
    public sealed class KvStats
    {
        internal KvStats(cab_kv_stats s)
        {
            Layers = s.n_layer;
            KvHeads = s.n_head_kv;
            BlockSize = s.block_size;
            SequenceLength = s.seq_length;
            TokensCached = s.tokens_cached;
            StreamMin = s.stream_min;
            StreamMax = s.stream_max;
            TokensEvicted = s.tokens_evicted;
            BlocksUsed = s.blocks_used;
            BlocksFree = s.blocks_free;
            BlocksTotal = s.blocks_total;
            BytesUsed = s.bytes_used;
            BytesTotal = s.bytes_total;
            Q8BlocksUsed = s.q8_blocks_used;
            Q8BlocksFree = s.q8_blocks_free;
            Q8BlocksTotal = s.q8_blocks_total;
            Q8BytesUsed = s.q8_bytes_used;
        }

        public int Layers { get; private set; }
        public int KvHeads { get; private set; }
        /// <summary>Tokens per block.</summary>
        public int BlockSize { get; private set; }
        /// <summary>Tokens the sequence has taken (0 for the whole context).</summary>
        public long SequenceLength { get; private set; }
        /// <summary>Cached tokens summed over every (layer, kv head) stream.</summary>
        public long TokensCached { get; private set; }
        /// <summary>Fewest tokens in one stream.</summary>
        public int StreamMin { get; private set; }
        /// <summary>Most tokens in one stream.</summary>
        public int StreamMax { get; private set; }
        /// <summary>Tokens evicted so far, summed over streams.</summary>
        public long TokensEvicted { get; private set; }
        public long BlocksUsed { get; private set; }
        public long BlocksFree { get; private set; }
        public long BlocksTotal { get; private set; }
        /// <summary>KV bytes held, blocks of both types.</summary>
        public ulong BytesUsed { get; private set; }
        /// <summary>KV bytes of the whole pool, both types.</summary>
        public ulong BytesTotal { get; private set; }
        /// <summary>Int8 blocks (ContextParams.KvQ8CapacityTokens); Blocks* count the others.</summary>
        public long Q8BlocksUsed { get; private set; }
        public long Q8BlocksFree { get; private set; }
        public long Q8BlocksTotal { get; private set; }
        /// <summary>The part of BytesUsed in int8 blocks.</summary>
        public ulong Q8BytesUsed { get; private set; }

        public override string ToString()
        {
            return string.Format(
                "{0} tokens cached over {1} layers x {2} kv heads, blocks {3} used / {4} total, " +
                "{5:F2} MiB used / {6:F2} MiB total",
                TokensCached, Layers, KvHeads, BlocksUsed, BlocksTotal,
                BytesUsed / 1048576.0, BytesTotal / 1048576.0);
        }
    }
}
