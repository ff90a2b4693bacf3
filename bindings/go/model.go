package cab

import (
	"errors"
	"runtime"
	"strings"

	"cab/internal/capi"
)

// ChatTemplate is the chat format a model uses (cab_chat_template).
type ChatTemplate int32

// Chat templates.
const (
	ChatTemplateNone   ChatTemplate = 0
	ChatTemplateChatML ChatTemplate = 1
	ChatTemplateLlama3 ChatTemplate = 2
)

// TokenizeFlags are the options of Tokenize (CAB_TOKENIZE_*).
type TokenizeFlags uint32

// Tokenize flags.
const (
	AddBOS       TokenizeFlags = TokenizeFlags(capi.CAB_TOKENIZE_ADD_BOS)       // prepend BOS when the model uses one
	ParseSpecial TokenizeFlags = TokenizeFlags(capi.CAB_TOKENIZE_PARSE_SPECIAL) // "<|im_start|>" becomes its token
)

// DetokenizeFlags are the options of Detokenize (CAB_DETOKENIZE_*).
type DetokenizeFlags uint32

// SkipSpecial leaves control tokens (BOS, EOS, end of turn) out of the text.
const SkipSpecial DetokenizeFlags = DetokenizeFlags(capi.CAB_DETOKENIZE_SKIP_SPECIAL)

// ModelInfo describes a model (cab_model_info).
type ModelInfo struct {
	Arch            string // "llama", "qwen2"
	Name            string // general.name
	VocabSize       int32
	TrainedContext  int32 // context length the model was trained for
	EmbeddingSize   int32
	Layers          int32
	Heads           int32
	KVHeads         int32
	HeadDim         int32
	FeedForwardSize int32
	RopeTheta       float32
	RMSEps          float32
	BOS, EOS, EOT   int32 // -1 if none
	ChatTemplate    ChatTemplate
	Params          uint64 // number of weights
	FileBytes       uint64
	Device          Device // where the weights live
}

// ChatMessage is one turn of a conversation for FormatChat.
type ChatMessage struct {
	Role    string // "system", "user" or "assistant"
	Content string
}

// Model is a loaded GGUF model: immutable, safe to use from any number of goroutines.
type Model struct {
	h    *handle
	info ModelInfo
}

// LoadModel loads a GGUF model (memory-mapped: the file must stay in place while the model
// lives). params may be nil for the defaults. Errors: ErrIO for a missing file (the message names
// the path), ErrFormat for a corrupt one, ErrUnsupported for an unknown architecture or type.
func LoadModel(path string, params *ModelParams) (*Model, error) {
	p := params.native()
	defer capi.DeleteCab_model_params(p)
	var ptr uintptr
	if err := call(func() capi.Enum_SS_cab_status { return capi.Cab_model_load(path, p, &ptr) }); err != nil {
		return nil, err
	}
	m := &Model{h: newHandle(ptr, capi.Cab_model_free)}
	runtime.SetFinalizer(m, (*Model).Close)
	info := capi.NewCab_model_info()
	defer capi.DeleteCab_model_info(info)
	if err := call(func() capi.Enum_SS_cab_status { return capi.Cab_model_info_get(ptr, info) }); err != nil {
		m.Close()
		return nil, err
	}
	m.info = ModelInfo{
		Arch: info.GetArch(), Name: info.GetName(),
		VocabSize: info.GetN_vocab(), TrainedContext: info.GetN_ctx_train(),
		EmbeddingSize: info.GetN_embd(), Layers: info.GetN_layer(), Heads: info.GetN_head(),
		KVHeads: info.GetN_head_kv(), HeadDim: info.GetHead_dim(), FeedForwardSize: info.GetN_ff(),
		RopeTheta: info.GetRope_theta(), RMSEps: info.GetRms_eps(),
		BOS: info.GetBos(), EOS: info.GetEos(), EOT: info.GetEot(),
		ChatTemplate: ChatTemplate(info.GetChat_template()),
		Params:       info.GetN_params(), FileBytes: info.GetFile_bytes(),
		Device: Device(info.GetDevice()),
	}
	return m, nil
}

// Info describes the model.
func (m *Model) Info() ModelInfo { return m.info }

// Tokenize turns UTF-8 text into tokens.
func (m *Model) Tokenize(text string, flags TokenizeFlags) ([]int32, error) {
	var tokens []int32
	err := m.h.with(func(ptr uintptr) (err error) {
		tokens, err = fill(len(text)+2, func(buf []int32, n *int64) capi.Enum_SS_cab_status {
			return capi.Cab_tokenize(ptr, text, uint32(flags), buf, int64(len(buf)), n)
		})
		return err
	})
	return tokens, err
}

// Detokenize turns tokens back into text, the inverse of Tokenize.
func (m *Model) Detokenize(tokens []int32, flags DetokenizeFlags) (string, error) {
	var text []byte
	err := m.h.with(func(ptr uintptr) (err error) {
		text, err = fill(len(tokens)*8+1, func(buf []byte, n *int64) capi.Enum_SS_cab_status {
			return capi.Cab_detokenize(ptr, tokens, int64(len(tokens)), uint32(flags), buf,
				int64(len(buf)), n)
		})
		return err
	})
	return string(text), err
}

// TokenPiece gives the bytes one token stands for; they may be part of a UTF-8 character.
func (m *Model) TokenPiece(token int32) ([]byte, error) {
	var piece []byte
	err := m.h.with(func(ptr uintptr) (err error) {
		piece, err = fill(32, func(buf []byte, n *int64) capi.Enum_SS_cab_status {
			return capi.Cab_token_to_piece(ptr, token, buf, int64(len(buf)), n)
		})
		return err
	})
	return piece, err
}

// IsEOG reports whether token ends generation (EOS, end of turn...).
func (m *Model) IsEOG(token int32) bool {
	eog := false
	_ = m.h.with(func(ptr uintptr) error {
		eog = capi.Cab_token_is_eog(ptr, token) != 0
		return nil
	})
	return eog
}

// FormatChat formats a conversation with the model's chat template (ChatML, Llama 3); with
// addAssistant the text ends with the assistant's header, ready to generate. Tokenize the
// result with ParseSpecial. ErrUnsupported when the model has no known template.
func (m *Model) FormatChat(messages []ChatMessage, addAssistant bool) (string, error) {
	parts := make([]string, 0, 2*len(messages))
	for _, msg := range messages {
		if strings.IndexByte(msg.Role, 0) >= 0 || strings.IndexByte(msg.Content, 0) >= 0 {
			return "", &Error{Status: StatusInvalidArgument, Message: "FormatChat: a message holds a NUL byte"}
		}
		parts = append(parts, msg.Role, msg.Content)
	}
	add := 0
	if addAssistant {
		add = 1
	}
	var text []byte
	err := m.h.with(func(ptr uintptr) (err error) {
		text, err = fill(256, func(buf []byte, n *int64) capi.Enum_SS_cab_status {
			return capi.Cab_chat_format(ptr, parts, int64(len(messages)), add, buf,
				int64(len(buf)), n)
		})
		return err
	})
	return string(text), err
}

// Close releases the model; calling it again does nothing. Open contexts keep the native model
// alive until they are closed.
func (m *Model) Close() error {
	m.h.close()
	runtime.SetFinalizer(m, nil)
	return nil
}

var errNilModel = errors.New("cab: nil model")
