//! Long-document question answering with libcab: prefills a document into the KV cache, then
//! asks a question about it and prints the answer with what the cache holds.
//!
//!     cab-docqa MODEL.gguf DOCUMENT.txt "QUESTION" [--max-tokens N] [--policy P] [--budget N]
//!
//! After the document and the question are prefilled, the cache is evicted to a budget of
//! `--budget` tokens per stream (default 256; 0 keeps everything) with a question-aware policy
//! (default snapkv: the question's attention picks which document tokens stay), then the model
//! answers from what is left.
use std::process::ExitCode;
use std::time::Instant;

use cab::{
    ChatMessage, ChatTemplate, Context, ContextParams, DetokenizeFlags, EvictParams, KvStats,
    Model, ModelParams, Token, TokenizeFlags,
};

const SEQ: cab::Seq = 0;
const QUESTION_MARK: &str = "\n\nQuestion: ";

struct Args {
    model: String,
    document: String,
    question: String,
    max_tokens: usize,
    policy: String,
    budget: i32,
}

fn parse_args() -> Result<Args, String> {
    let usage = "usage: cab-docqa MODEL.gguf DOCUMENT.txt \"QUESTION\" [--max-tokens N] \
                 [--policy snapkv] [--budget 256]";
    let mut positional = Vec::new();
    let mut max_tokens = 64;
    let mut policy = "snapkv".to_string();
    let mut budget = 256;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--max-tokens" | "--policy" | "--budget" => {
                let value = args.next().ok_or(usage)?;
                let bad = |_| format!("bad {} {}", arg, value);
                match arg.as_str() {
                    "--max-tokens" => max_tokens = value.parse().map_err(bad)?,
                    "--budget" => budget = value.parse().map_err(bad)?,
                    _ => policy = value,
                }
            }
            _ => positional.push(arg),
        }
    }
    let [model, document, question]: [String; 3] =
        positional.try_into().map_err(|_| usage.to_string())?;
    Ok(Args {
        model,
        document,
        question,
        max_tokens,
        policy,
        budget,
    })
}

/// The prompt in two parts: everything up to the end of the document, then the question with
/// the assistant's header (the model's chat template, when it has one).
fn prompt_parts(model: &Model, document: &str, question: &str) -> cab::Result<(String, String)> {
    let content = format!(
        "Read this essay, then answer the question after it.\n\n{}{}{}",
        document, QUESTION_MARK, question
    );
    let text = if model.info().chat_template == ChatTemplate::None {
        format!("{}\nAnswer:", content)
    } else {
        model.format_chat(&[ChatMessage::new("user", content)], true)?
    };
    let split = text
        .rfind(QUESTION_MARK)
        .expect("the question is in the prompt");
    Ok((text[..split].to_string(), text[split..].to_string()))
}

fn print_kv(label: &str, s: &KvStats) {
    println!(
        "{:<10} {} positions, {} tokens cached over {} layers x {} kv heads (streams hold {}..{}), \
         {} evicted, {} / {} blocks, {:.2} / {:.2} MiB",
        label,
        s.seq_length,
        s.tokens_cached,
        s.layers,
        s.kv_heads,
        s.stream_min,
        s.stream_max,
        s.tokens_evicted,
        s.blocks_used,
        s.blocks_total,
        s.bytes_used as f64 / 1048576.0,
        s.bytes_total as f64 / 1048576.0
    );
}

fn answer(args: &Args) -> cab::Result<()> {
    let document = std::fs::read_to_string(&args.document).map_err(|e| {
        eprintln!("cab-docqa: cannot read {}: {}", args.document, e);
        std::process::exit(1)
    })?;
    let model = Model::load(&args.model, &ModelParams::default())?;
    let (doc_part, question_part) = prompt_parts(&model, &document, &args.question)?;
    let flags = TokenizeFlags::ADD_BOS | TokenizeFlags::PARSE_SPECIAL;
    let doc_tokens = model.tokenize(&doc_part, flags)?;
    let question_tokens = model.tokenize(&question_part, TokenizeFlags::PARSE_SPECIAL)?;

    let params = ContextParams {
        kv_capacity_tokens: (doc_tokens.len() + question_tokens.len() + args.max_tokens + 1) as i64,
        ..ContextParams::default()
    };
    let mut ctx = Context::new(&model, &params)?;

    let start = Instant::now();
    ctx.prefill(SEQ, &doc_tokens)?;
    let doc_seconds = start.elapsed().as_secs_f64();
    print_kv("document:", &ctx.kv_stats(SEQ)?);

    let start = Instant::now();
    ctx.prefill(SEQ, &question_tokens)?;
    print_kv("question:", &ctx.kv_stats(SEQ)?);
    if args.budget > 0 {
        // The question is the last tokens prefilled, so snapkv's observation window is the
        // question itself: the document keeps what the question attends to.
        let report = ctx.evict(SEQ, &EvictParams::new(&args.policy, args.budget))?;
        print_kv("evicted:", &ctx.kv_stats(SEQ)?);
        println!(
            "eviction:  {} to {} tokens per stream: {} -> {} tokens cached, {} evicted, \
             {} blocks ({:.2} MiB) freed",
            args.policy,
            args.budget,
            report.tokens_before,
            report.tokens_kept,
            report.tokens_evicted,
            report.blocks_freed,
            report.bytes_freed as f64 / 1048576.0
        );
    }
    let mut reply: Vec<Token> = Vec::new();
    while reply.len() < args.max_tokens {
        let token = ctx.sample(SEQ, None)?;
        if model.is_eog(token) {
            break;
        }
        reply.push(token);
        ctx.decode(&[SEQ], &[token])?;
    }
    let answer_seconds = start.elapsed().as_secs_f64();

    println!("asked:     {}", args.question);
    println!(
        "answer:    {}",
        model
            .detokenize(&reply, DetokenizeFlags::SKIP_SPECIAL)?
            .trim()
    );
    print_kv("kv cache:", &ctx.kv_stats(SEQ)?);
    println!(
        "timing:    document {} tokens in {:.2} s ({:.1} tokens/s); question {} tokens + answer {} tokens in {:.2} s",
        doc_tokens.len(),
        doc_seconds,
        doc_tokens.len() as f64 / doc_seconds.max(1e-9),
        question_tokens.len(),
        reply.len(),
        answer_seconds
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(usage) => {
            eprintln!("{}", usage);
            return ExitCode::from(2);
        }
    };
    match answer(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cab-docqa: {}", e);
            ExitCode::FAILURE
        }
    }
}
