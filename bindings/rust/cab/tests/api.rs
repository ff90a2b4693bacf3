//! Tests of the safe crate against the built libcab, with stories260K (and SmolLM2 for chat
//! formatting). Models: $CAB_TEST_MODEL / $CAB_TEST_CHAT_MODEL, or this checkout's models/.
use std::path::PathBuf;

use cab::{
    ChatMessage, ChatTemplate, Context, ContextParams, DetokenizeFlags, Device, EvictParams,
    KvQ8Type, Model, ModelParams, Sampler, SamplerParams, Status, Token, TokenizeFlags, SEQ_ALL,
};

// llama2.c's encoding of "Once upon a time" (with BOS) and its 30 greedy tokens on stories260K
// (tools/golden/stories260k_reference.py, as in tests/test_context.cpp).
const STORY_PROMPT: [Token; 5] = [1, 403, 407, 261, 378];
const STORY_CONTINUATION: [Token; 30] = [
    432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419,
    292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432,
];
const STORY_TEXT: &str =
    ", there was a little girl named Lily. She loved to play outside in the park. One day,";

fn model_path(var: &str, file: &str) -> PathBuf {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../models")
            .join(file)
    });
    assert!(
        path.is_file(),
        "model {} is missing: run tools/prepare_models.sh",
        path.display()
    );
    path
}

fn load() -> Model {
    Model::load(
        model_path("CAB_TEST_MODEL", "stories260K.gguf"),
        &ModelParams::default(),
    )
    .expect("load stories260K")
}

fn small_context(model: &Model, sequences: i32) -> Context<'_> {
    let params = ContextParams {
        device: Device::Cpu,
        max_sequences: sequences,
        threads: 2,
        kv_capacity_tokens: 256,
        ..ContextParams::default()
    };
    Context::new(model, &params).expect("context")
}

fn argmax(v: &[f32]) -> Token {
    (0..v.len()).fold(0, |best, i| if v[i] > v[best] { i } else { best }) as Token
}

#[test]
fn load_gives_model_info() {
    let model = load();
    let i = model.info();
    assert_eq!(i.arch, "llama");
    assert_eq!(
        (i.vocab_size, i.layers, i.heads, i.kv_heads),
        (512, 5, 8, 4)
    );
    assert_eq!(i.bos, Some(1));
    assert_eq!(i.device, Device::Cpu);
    assert_eq!(i.chat_template, ChatTemplate::None);
    assert_eq!(cab::version_number(), cab::HEADER_VERSION_NUMBER);
    let v = cab::version_number();
    assert_eq!(
        cab::version(),
        format!("{}.{}.{}", v / 10000, v / 100 % 100, v % 100)
    );
}

#[test]
fn tokenize_detokenize_round_trip() {
    let model = load();
    assert_eq!(
        model
            .tokenize("Once upon a time", TokenizeFlags::ADD_BOS)
            .unwrap(),
        STORY_PROMPT
    );
    for text in [
        "Once upon a time, there was a little girl.",
        "Zürich — naïve café ✓ 日本",
    ] {
        let tokens = model.tokenize(text, TokenizeFlags::ADD_BOS).unwrap();
        assert_eq!(Some(tokens[0]), model.info().bos);
        assert_eq!(
            model
                .detokenize(&tokens, DetokenizeFlags::SKIP_SPECIAL)
                .unwrap(),
            text
        );
        assert_eq!(
            model.tokenize(text, TokenizeFlags::NONE).unwrap().len(),
            tokens.len() - 1
        );
    }
    assert!(model.tokenize("", TokenizeFlags::NONE).unwrap().is_empty());
    assert!(!model.token_to_piece(STORY_PROMPT[1]).unwrap().is_empty());
}

#[test]
fn generate_greedy_matches_llama2c() {
    let model = load();
    let mut ctx = small_context(&model, 1);
    ctx.prefill(0, &STORY_PROMPT).unwrap();
    let mut generated = Vec::new();
    while generated.len() < STORY_CONTINUATION.len() {
        let best = argmax(ctx.logits(0).unwrap());
        let token = ctx.sample(0, None).unwrap();
        assert_eq!(token, best, "greedy sample is the argmax");
        generated.push(token);
        ctx.decode(&[0], &[token]).unwrap();
    }
    assert_eq!(generated, STORY_CONTINUATION);
    assert_eq!(
        model.detokenize(&generated, DetokenizeFlags::NONE).unwrap(),
        STORY_TEXT
    );
    assert_eq!(
        ctx.seq_length(0).unwrap(),
        (STORY_PROMPT.len() + generated.len()) as i64
    );
}

#[test]
fn seeded_sampling_repeats() {
    let model = load();
    let run = || {
        let params = SamplerParams {
            temperature: 0.9,
            top_k: 40,
            top_p: 0.95,
            seed: 42,
            ..Default::default()
        };
        let mut sampler = Sampler::new(&params).unwrap();
        let mut ctx = small_context(&model, 1);
        ctx.prefill(0, &STORY_PROMPT).unwrap();
        (0..20)
            .map(|_| {
                let token = ctx.sample(0, Some(&mut sampler)).unwrap();
                ctx.decode(&[0], &[token]).unwrap();
                token
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

// Three prompts decoded together, step by step, against each decoded alone.
#[test]
fn batch_decode_equals_one_sequence_at_a_time() {
    let model = load();
    let prompts = [
        "Once upon a time",
        "The cat sat",
        "Tom and Sue went to the park",
    ];
    const STEPS: usize = 6;
    let mut alone = Vec::new();
    for prompt in prompts {
        let mut ctx = small_context(&model, 1);
        ctx.prefill(0, &model.tokenize(prompt, TokenizeFlags::ADD_BOS).unwrap())
            .unwrap();
        let mut tokens = Vec::new();
        for _ in 0..STEPS {
            let token = ctx.sample(0, None).unwrap();
            tokens.push(token);
            ctx.decode(&[0], &[token]).unwrap();
        }
        alone.push((tokens, ctx.logits(0).unwrap().to_vec()));
    }

    let mut ctx = small_context(&model, prompts.len() as i32);
    let seqs: Vec<i32> = (0..prompts.len() as i32).collect();
    for (&seq, prompt) in seqs.iter().zip(prompts) {
        ctx.prefill(
            seq,
            &model.tokenize(prompt, TokenizeFlags::ADD_BOS).unwrap(),
        )
        .unwrap();
    }
    for step in 0..STEPS {
        let next: Vec<Token> = seqs.iter().map(|&s| ctx.sample(s, None).unwrap()).collect();
        for (s, &token) in next.iter().enumerate() {
            assert_eq!(token, alone[s].0[step], "step {} of sequence {}", step, s);
        }
        ctx.decode(&seqs, &next).unwrap();
    }
    for &s in &seqs {
        let diff = ctx
            .logits(s)
            .unwrap()
            .iter()
            .zip(&alone[s as usize].1)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            diff < 1e-3,
            "sequence {}: batched logits differ from alone by {}",
            s,
            diff
        );
    }
}

#[test]
fn kv_stats_and_reset() {
    let model = load();
    let mut ctx = small_context(&model, 2);
    let streams = (model.info().layers * model.info().kv_heads) as i64;
    let n = STORY_PROMPT.len() as i64;
    ctx.prefill(1, &STORY_PROMPT).unwrap();
    let s = ctx.kv_stats(1).unwrap();
    assert_eq!(
        (s.seq_length, s.tokens_cached, s.stream_max as i64),
        (n, n * streams, n)
    );
    assert!(s.blocks_used > 0 && s.bytes_used > 0);
    let lengths = ctx.kv_lengths(1).unwrap();
    assert_eq!(lengths.len() as i64, streams);
    assert!(lengths.iter().all(|&l| l as i64 == n));
    let all = ctx.kv_stats(SEQ_ALL).unwrap();
    assert_eq!(all.blocks_used + all.blocks_free, all.blocks_total);
    ctx.seq_reset(1).unwrap();
    assert_eq!(ctx.seq_length(1).unwrap(), 0);
    let all = ctx.kv_stats(SEQ_ALL).unwrap();
    assert_eq!(all.blocks_free, all.blocks_total);
}

// The per-sequence figures of kv_stats, to compare a sequence before and after a call.
fn seq_figures(ctx: &Context<'_>, seq: i32) -> (i64, i64, i32, i32, i64, i64, u64) {
    let s = ctx.kv_stats(seq).unwrap();
    (
        s.seq_length,
        s.tokens_cached,
        s.stream_min,
        s.stream_max,
        s.tokens_evicted,
        s.blocks_used,
        s.bytes_used,
    )
}

#[test]
fn seq_copy_continues_as_the_original() {
    let model = load();
    let mut ctx = small_context(&model, 3);
    ctx.prefill(0, &STORY_PROMPT).unwrap();
    ctx.seq_copy(0, 1).unwrap();
    let original = ctx.logits(0).unwrap().to_vec();
    assert_eq!(ctx.logits(1).unwrap(), &original[..]);
    assert_eq!(ctx.seq_length(1).unwrap(), STORY_PROMPT.len() as i64);
    let mut generated = Vec::new();
    while generated.len() < STORY_CONTINUATION.len() {
        let token = ctx.sample(1, None).unwrap();
        generated.push(token);
        ctx.decode(&[1], &[token]).unwrap();
    }
    assert_eq!(generated, STORY_CONTINUATION);

    // Evicting a copy leaves the original as it was.
    let before = seq_figures(&ctx, 0);
    ctx.seq_copy(1, 2).unwrap();
    ctx.evict(2, &EvictParams::new("h2o", 8)).unwrap();
    assert_eq!(seq_figures(&ctx, 0), before);
    assert!(ctx.kv_stats(2).unwrap().tokens_evicted > 0);

    let err = ctx.seq_copy(2, 2).unwrap_err();
    assert_eq!(err.status(), Status::InvalidArgument);
    assert!(
        err.message().contains("src and dst"),
        "message: {}",
        err.message()
    );
    assert_eq!(
        ctx.seq_copy(0, 3).unwrap_err().status(),
        Status::InvalidArgument
    );
    // 200 tokens need 13 of the 16 blocks per stream: a second copy does not fit.
    ctx.seq_reset(1).unwrap();
    let long: Vec<Token> = (0..195).map(|i| 3 + i * 7 % 500).collect();
    ctx.prefill(0, &long).unwrap();
    let before = seq_figures(&ctx, 2);
    assert_eq!(ctx.seq_copy(0, 2).unwrap_err().status(), Status::KvFull);
    assert_eq!(seq_figures(&ctx, 2), before);
}

#[test]
fn bad_path_is_an_io_error_naming_the_path() {
    let path = "/nonexistent/dir/missing-model.gguf";
    let err = Model::load(path, &ModelParams::default()).unwrap_err();
    assert_eq!(err.status(), Status::Io);
    assert!(err.message().contains(path), "message: {}", err.message());
    assert_eq!(err.status().code(), cab_sys::CAB_ERR_IO);
}

#[test]
fn bad_sequence_is_an_invalid_argument() {
    let model = load();
    let mut ctx = small_context(&model, 1);
    let err = ctx.prefill(3, &STORY_PROMPT).unwrap_err();
    assert_eq!(err.status(), Status::InvalidArgument);
    assert!(err.message().contains("seq"), "message: {}", err.message());
    assert_eq!(
        ctx.decode(&[-2], &[5]).unwrap_err().status(),
        Status::InvalidArgument
    );
    assert_eq!(
        ctx.prefill(0, &[1, 100000]).unwrap_err().status(),
        Status::InvalidArgument
    );
    assert_eq!(
        ctx.seq_length(0).unwrap(),
        0,
        "a failed prefill changes nothing"
    );
    assert_eq!(ctx.logits(0).unwrap_err().status(), Status::State);
    assert_eq!(ctx.sample(0, None).unwrap_err().status(), Status::State);
}

#[test]
fn format_chat() {
    let stories = load();
    let hi = [ChatMessage::new("user", "hi")];
    assert_eq!(
        stories.format_chat(&hi, true).unwrap_err().status(),
        Status::Unsupported
    );

    let path = model_path("CAB_TEST_CHAT_MODEL", "SmolLM2-135M-Instruct.Q4_1.gguf");
    let model = Model::load(path, &ModelParams::default()).unwrap();
    assert_eq!(model.info().chat_template, ChatTemplate::ChatMl);
    let messages = [
        ChatMessage::new("system", "Be brief."),
        ChatMessage::new("user", "Hi"),
        ChatMessage::new("assistant", "Hello!"),
        ChatMessage::new("user", "Bye ✓"),
    ];
    let text = model.format_chat(&messages, true).unwrap();
    assert_eq!(
        text,
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n\
         <|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye ✓<|im_end|>\n\
         <|im_start|>assistant\n"
    );
    let tokens = model.tokenize(&text, TokenizeFlags::PARSE_SPECIAL).unwrap();
    assert_eq!(model.token_to_piece(tokens[0]).unwrap(), b"<|im_start|>");
    assert!(model.is_eog(model.info().eot.unwrap()));
    let err = model
        .format_chat(&[ChatMessage::new("narrator", "x")], false)
        .unwrap_err();
    assert_eq!(err.status(), Status::InvalidArgument);
    assert!(
        err.message().contains("narrator"),
        "message: {}",
        err.message()
    );
}

// Dropping frees each handle once; the borrow checker keeps a context from outliving its model.
#[test]
fn drop_releases_everything() {
    for _ in 0..3 {
        let model = load();
        let mut ctx = small_context(&model, 1);
        let mut sampler = Sampler::new(&SamplerParams::default()).unwrap();
        ctx.prefill(0, &STORY_PROMPT).unwrap();
        assert_eq!(
            ctx.sample(0, Some(&mut sampler)).unwrap(),
            STORY_CONTINUATION[0]
        );
        drop(sampler);
        drop(ctx);
        drop(model);
    }
}

#[test]
fn model_and_context_cross_threads() {
    let model = load();
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                let mut ctx = small_context(&model, 1);
                ctx.prefill(0, &STORY_PROMPT).unwrap();
                assert_eq!(ctx.sample(0, None).unwrap(), STORY_CONTINUATION[0]);
            });
        }
    });
}

fn evict_context(model: &Model, auto_evict: Option<EvictParams>) -> Context<'_> {
    let params = ContextParams {
        device: Device::Cpu,
        threads: 2,
        kv_capacity_tokens: 128,
        auto_evict,
        auto_evict_slack: 8,
        ..ContextParams::default()
    };
    Context::new(model, &params).expect("context")
}

fn generate(ctx: &mut Context<'_>, steps: usize) {
    for _ in 0..steps {
        let token = ctx.sample(0, None).unwrap();
        ctx.decode(&[0], &[token]).unwrap();
    }
}

#[test]
fn evict_to_a_budget_shrinks_the_cache() {
    let model = load();
    let streams = (model.info().layers * model.info().kv_heads) as i64;
    let mut ctx = evict_context(&model, None);
    ctx.prefill(0, &STORY_PROMPT).unwrap();
    generate(&mut ctx, 35);
    let before = ctx.kv_stats(0).unwrap();
    assert_eq!(before.tokens_cached, 40 * streams);

    let params = EvictParams::new("h2o", 16);
    assert_eq!(
        params.sinks, 4,
        "defaults come from cab_evict_default_params"
    );
    let report = ctx.evict(0, &params).unwrap();
    let after = ctx.kv_stats(0).unwrap();
    assert_eq!(report.tokens_before, before.tokens_cached);
    assert_eq!(report.tokens_kept, 16 * streams);
    assert_eq!(report.tokens_kept, after.tokens_cached);
    assert_eq!(
        report.tokens_evicted,
        report.tokens_before - report.tokens_kept
    );
    assert_eq!(after.tokens_evicted, report.tokens_evicted);
    assert_eq!(report.blocks_freed, before.blocks_used - after.blocks_used);
    assert!(report.blocks_freed > 0 && report.bytes_freed > 0);
    assert_eq!((after.stream_min, after.stream_max), (16, 16));
    assert_eq!(after.seq_length, 40, "eviction keeps the positions");

    let positions = ctx.kv_positions(0, 2, 1).unwrap();
    assert_eq!(positions.len(), 16);
    assert_eq!(&positions[..4], &[0, 1, 2, 3], "the sinks stay");
    assert!(positions.windows(2).all(|w| w[0] < w[1]) && positions[15] < 40);
    let scores = ctx.kv_scores(0, 2, 1).unwrap();
    assert_eq!(
        (
            scores.score.len(),
            scores.observers.len(),
            scores.window.len()
        ),
        (16, 16, 16)
    );
    assert!(scores.score.iter().all(|&s| s > 0.0));
    assert!(scores.observers.iter().all(|&o| o >= 1.0));

    // Generation goes on at the next position.
    generate(&mut ctx, 10);
    let s = ctx.kv_stats(0).unwrap();
    assert_eq!((s.seq_length, s.stream_max), (50, 26));
}

#[test]
fn quantize_then_evict_counts_bytes_by_type() {
    let model = load();
    let streams = (model.info().layers * model.info().kv_heads) as i64;
    assert_eq!(ContextParams::default().kv_q8_type, KvQ8Type::Int8);
    // Both 8-bit types take the same blocks and bytes.
    for kv_q8_type in [KvQ8Type::Int8, KvQ8Type::Fp8E4M3] {
        let params = ContextParams {
            device: Device::Cpu,
            threads: 2,
            kv_capacity_tokens: 128,
            kv_q8_capacity_tokens: 128,
            kv_q8_type,
            ..ContextParams::default()
        };
        let mut ctx = Context::new(&model, &params).expect("context");
        ctx.prefill(0, &STORY_PROMPT).unwrap();
        generate(&mut ctx, 35);
        let before = ctx.kv_stats(0).unwrap();
        assert_eq!(before.q8_blocks_used, 0);
        let evict = EvictParams {
            quantize_recent: 8,
            ..EvictParams::new("quantize+h2o", 24)
        };
        let report = ctx.evict(0, &evict).unwrap();
        let after = ctx.kv_stats(0).unwrap();
        // 40 tokens, the last 8 recent: two whole blocks of 16 per stream go to 8-bit blocks.
        assert_eq!(report.tokens_quantized, 32 * streams, "{:?}", kv_q8_type);
        assert_eq!(report.tokens_kept, 24 * streams);
        assert!(after.q8_blocks_used > 0 && after.q8_bytes_used > 0);
        assert_eq!(after.bytes_used + report.bytes_freed, before.bytes_used);
        generate(&mut ctx, 5);
    }
}

#[test]
fn auto_eviction_keeps_the_cache_under_budget_and_slack() {
    let model = load();
    let budget = 24;
    let mut ctx = evict_context(&model, Some(EvictParams::new("window", budget)));
    ctx.prefill(0, &STORY_PROMPT).unwrap();
    for _ in 0..300 {
        let token = ctx.sample(0, None).unwrap();
        ctx.decode(&[0], &[token]).unwrap();
        let s = ctx.kv_stats(0).unwrap();
        assert!(
            s.stream_max <= budget + 8,
            "{} tokens in a stream at {}",
            s.stream_max,
            s.seq_length
        );
    }
    let s = ctx.kv_stats(0).unwrap();
    assert_eq!(s.seq_length, 305);
    assert!(s.tokens_evicted > 0);
}

#[test]
fn bad_policy_is_an_error_naming_it() {
    let model = load();
    let mut ctx = evict_context(&model, None);
    ctx.prefill(0, &STORY_PROMPT).unwrap();
    let err = ctx
        .evict(0, &EvictParams::new("no-such-policy", 4))
        .unwrap_err();
    assert_eq!(err.status(), Status::InvalidArgument);
    assert!(
        err.message().contains("no-such-policy"),
        "message: {}",
        err.message()
    );
    let params = ContextParams {
        auto_evict: Some(EvictParams::new("lru", 16)),
        ..ContextParams::default()
    };
    let err = Context::new(&model, &params).unwrap_err();
    assert_eq!(err.status(), Status::InvalidArgument);
    assert!(err.message().contains("lru"), "message: {}", err.message());
}
