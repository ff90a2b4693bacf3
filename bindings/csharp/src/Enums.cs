// The C ABI's enums and flags, with their pinned values.
using System;

namespace Cab
{
    /// <summary>Where computation and memory live (cab_device).</summary>
    public enum Device
    {
        Auto = 0,
        Cpu = 1,
        Cuda = 2
    }

    /// <summary>Element type of the KV cache (cab_kv_type).</summary>
    public enum KvType
    {
        Auto = 0,
        F32 = 1,
        F16 = 2,
        BF16 = 3
    }

    /// <summary>
    /// Element type of 8-bit KV blocks (cab_kv_q8_type): one byte per element and one F32 scale
    /// per row either way.
    /// </summary>
    public enum KvQ8Type
    {
        /// <summary>int8, uniform steps of max|x| / 127 within a row.</summary>
        Int8 = 0,
        /// <summary>fp8 E4M3: 3 significant bits over a range of 2^17 within a row.</summary>
        Fp8E4M3 = 1
    }

    /// <summary>The chat template a model uses (cab_chat_template).</summary>
    public enum ChatTemplate
    {
        None = 0,
        ChatML = 1,
        Llama3 = 2
    }

    /// <summary>Flags of <see cref="Model.Tokenize"/> (CAB_TOKENIZE_*).</summary>
    [Flags]
    public enum TokenizeFlags : uint
    {
        None = 0,
        /// <summary>Prepend BOS when the model uses one.</summary>
        AddBos = 1,
        /// <summary>Special-token text such as "&lt;|im_start|&gt;" becomes its token.</summary>
        ParseSpecial = 2
    }

    /// <summary>Flags of <see cref="Model.Detokenize"/> (CAB_DETOKENIZE_*).</summary>
    [Flags]
    public enum DetokenizeFlags : uint
    {
        None = 0,
        /// <summary>Leave out control tokens (BOS, EOS, end of turn).</summary>
        SkipSpecial = 1
    }
}
