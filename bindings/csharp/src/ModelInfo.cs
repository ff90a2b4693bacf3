// A model's description (cab_model_info), read once when the model loads.
namespace Cab
{
    public sealed class ModelInfo
    {
        internal ModelInfo(cab_model_info i)
        {
            Arch = i.arch;
            Name = i.name;
            VocabSize = i.n_vocab;
            TrainedContextLength = i.n_ctx_train;
            EmbeddingSize = i.n_embd;
            Layers = i.n_layer;
            Heads = i.n_head;
            KvHeads = i.n_head_kv;
            HeadDim = i.head_dim;
            FeedForwardSize = i.n_ff;
            RopeTheta = i.rope_theta;
            RmsEps = i.rms_eps;
            Bos = i.bos;
            Eos = i.eos;
            Eot = i.eot;
            ChatTemplate = (ChatTemplate)(int)i.chat_template;
            Parameters = i.n_params;
            FileBytes = i.file_bytes;
            Device = (Device)(int)i.device;
        }

        /// <summary>"llama", "qwen2".</summary>
        public string Arch { get; private set; }
        /// <summary>general.name of the GGUF file.</summary>
        public string Name { get; private set; }
        public int VocabSize { get; private set; }
        /// <summary>Context length the model was trained for (n_ctx_train).</summary>
        public int TrainedContextLength { get; private set; }
        public int EmbeddingSize { get; private set; }
        public int Layers { get; private set; }
        public int Heads { get; private set; }
        public int KvHeads { get; private set; }
        public int HeadDim { get; private set; }
        public int FeedForwardSize { get; private set; }
        public float RopeTheta { get; private set; }
        public float RmsEps { get; private set; }
        /// <summary>Beginning-of-sequence token, -1 if none.</summary>
        public int Bos { get; private set; }
        /// <summary>End-of-sequence token, -1 if none.</summary>
        public int Eos { get; private set; }
        /// <summary>End-of-turn token (e.g. &lt;|im_end|&gt;), -1 if none.</summary>
        public int Eot { get; private set; }
        public ChatTemplate ChatTemplate { get; private set; }
        /// <summary>Number of weights.</summary>
        public ulong Parameters { get; private set; }
        public ulong FileBytes { get; private set; }
        /// <summary>Where the weights live.</summary>
        public Device Device { get; private set; }
    }
}
