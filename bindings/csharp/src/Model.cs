// A loaded GGUF model: immutable, shared by any number of contexts on any threads.
using System;
using System.Collections.Generic;
using System.Text;

namespace Cab
{
    /// <summary>One message of a conversation for <see cref="Model.FormatChat"/>.</summary>
    public sealed class ChatMessage
    {
        public ChatMessage(string role, string content)
        {
            Role = role;
            Content = content;
        }

        /// <summary>"system", "user" or "assistant".</summary>
        public string Role { get; private set; }
        public string Content { get; private set; }
    }

    public sealed class Model : IDisposable
    {
        private readonly ModelHandle handle;

        private Model(ModelHandle handle)
        {
            this.handle = handle;
            using (var h = handle.Use())
            using (var info = new cab_model_info())
            {
                Errors.Check(CabNative.cab_model_info_get(h.Ptr, info));
                Info = new ModelInfo(info);
            }
        }

        /// <summary>
        /// Loads a GGUF model (memory-mapped: the file must stay in place while the model lives).
        /// Throws CabException: Io for a missing file (the message names the path), Format for a
        /// corrupt one, Unsupported for an unknown architecture or tensor type.
        /// </summary>
        public static Model Load(string path, ModelParams parameters = null)
        {
            if (path == null) throw new ArgumentNullException("path");
            IntPtr ptr;
            using (var p = (parameters ?? new ModelParams()).ToNative())
                Errors.Check(CabNative.cab_model_load(path, p, out ptr));
            return new Model(new ModelHandle(ptr));
        }

        public ModelInfo Info { get; private set; }

        internal ModelHandle Handle
        {
            get { return handle; }
        }

        /// <summary>UTF-8 tokenization of <paramref name="text"/>.</summary>
        public int[] Tokenize(string text, TokenizeFlags flags = TokenizeFlags.AddBos)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(text ?? "");
            using (var h = handle.Use())
            {
                IntPtr model = h.Ptr;
                return Buffers.Fill<int>(
                    (int[] buf, ulong cap, out ulong n) => CabNative.cab_tokenize(
                        model, bytes, (ulong)bytes.Length, (uint)flags, buf, cap, out n),
                    bytes.Length + 2);
            }
        }

        /// <summary>Text of <paramref name="tokens"/>, the inverse of Tokenize.</summary>
        public string Detokenize(int[] tokens, DetokenizeFlags flags = DetokenizeFlags.None)
        {
            if (tokens == null) throw new ArgumentNullException("tokens");
            using (var h = handle.Use())
            {
                IntPtr model = h.Ptr;
                byte[] text = Buffers.Fill<byte>(
                    (byte[] buf, ulong cap, out ulong n) => CabNative.cab_detokenize(
                        model, tokens, (ulong)tokens.Length, (uint)flags, buf, cap, out n),
                    tokens.Length * 8 + 1);
                return Encoding.UTF8.GetString(text);
            }
        }

        /// <summary>The bytes one token stands for; may be part of a UTF-8 character.</summary>
        public byte[] TokenToPiece(int token)
        {
            using (var h = handle.Use())
            {
                IntPtr model = h.Ptr;
                return Buffers.Fill<byte>(
                    (byte[] buf, ulong cap, out ulong n) =>
                        CabNative.cab_token_to_piece(model, token, buf, cap, out n),
                    32);
            }
        }

        /// <summary>True when <paramref name="token"/> ends generation (EOS, end of turn...).</summary>
        public bool IsEndOfGeneration(int token)
        {
            using (var h = handle.Use())
                return CabNative.cab_token_is_eog(h.Ptr, token) != 0;
        }

        /// <summary>
        /// The conversation in the model's chat template (ChatML, Llama 3); with
        /// <paramref name="addAssistant"/> it ends with the assistant's header, ready to generate.
        /// Tokenize the result with TokenizeFlags.ParseSpecial.
        /// </summary>
        public string FormatChat(IEnumerable<ChatMessage> messages, bool addAssistant = true)
        {
            if (messages == null) throw new ArgumentNullException("messages");
            var flat = new List<string>();
            foreach (ChatMessage m in messages)
            {
                flat.Add(m.Role);
                flat.Add(m.Content);
            }
            string[] pairs = flat.ToArray();
            using (var h = handle.Use())
            {
                IntPtr model = h.Ptr;
                byte[] text = Buffers.Fill<byte>(
                    (byte[] buf, ulong cap, out ulong n) => CabNative.cab_chat_format(
                        model, pairs, (ulong)(pairs.Length / 2), addAssistant ? 1 : 0, buf, cap,
                        out n),
                    256);
                return Encoding.UTF8.GetString(text);
            }
        }

        /// <summary>
        /// Releases the model. Safe to call twice. Contexts still open keep the native model
        /// alive until they are disposed.
        /// </summary>
        public void Dispose()
        {
            handle.Dispose();
        }
    }
}
