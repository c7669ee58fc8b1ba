"""Hand-built tokenizer.json fixtures in the formats of Llama 3 and Qwen2.5, with expected ids
derived independently of circuitscan's tokenizer (to be replaced by ids from Hugging Face
`tokenizers` wherever it can be run: Debian has no package of it, and PyPI is out of reach here).

usage: /usr/bin/python3 make_tokenizer_fixtures.py OUT_DIR      (needs python3-regex)

What is independent: the expected ids come from the documented algorithm of a Hugging Face
byte-level BPE tokenizer, written here from its description, not from circuitscan's code:
  1. added tokens (specials) are split out of the text literally, longest first;
  2. each remaining span is split by the pre-tokenizer regex (Llama 3's and Qwen2's patterns as
     published in their tokenizer.json; matches and the gaps between them are kept, "Isolated");
  3. each piece becomes bytes, shown as GPT-2's byte-to-unicode characters;
  4. with model.ignore_merges (Llama 3) a piece that is itself in the vocab is one token;
  5. otherwise BPE: repeatedly merge the adjacent pair with the lowest merge rank (the leftmost
     of equal pairs), until no pair has a rank;
  6. the post-processor's TemplateProcessing puts <|begin_of_text|> first (Llama 3); Qwen2.5's
     ByteLevel post-processor adds nothing.
The vocabularies are small BPE vocabularies trained below on a fixed text (most frequent pair
first), with ids shuffled so that nothing relies on byte tokens coming first, and the specials at
Llama 3's real ids (128000...).
"""
import json, os, random, sys
import regex

out = sys.argv[1]
os.makedirs(out, exist_ok=True)

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


B2U = bytes_to_unicode()


def to_unicode(s):
    return "".join(B2U[b] for b in s.encode("utf-8"))


def pieces(text, pattern):
    """Matches and the gaps between them, in order (HF Split, behavior Isolated)."""
    r, pos = [], 0
    for m in regex.finditer(pattern, text):
        if m.start() > pos:
            r.append(text[pos:m.start()])
        if m.end() > m.start():
            r.append(m.group(0))
        pos = m.end()
    if pos < len(text):
        r.append(text[pos:])
    return r


def train(corpus, pattern, n_merges):
    words = {}
    for p in pieces(corpus, pattern):
        w = tuple(to_unicode(p))
        words[w] = words.get(w, 0) + 1
    merges = []
    for _ in range(n_merges):
        counts = {}
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + c
        if not counts:
            break
        best = max(sorted(counts), key=lambda k: counts[k])  # ties: first in sorted order
        merges.append(best)
        new = {}
        for w, c in words.items():
            out_w, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out_w.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out_w.append(w[i])
                    i += 1
            new[tuple(out_w)] = new.get(tuple(out_w), 0) + c
        words = new
    return merges


def bpe(word, ranks):
    syms = list(word)
    while len(syms) > 1:
        best, at = None, -1
        for i in range(len(syms) - 1):
            r = ranks.get((syms[i], syms[i + 1]))
            if r is not None and (best is None or r < best):
                best, at = r, i
        if best is None:
            break
        syms[at:at + 2] = [syms[at] + syms[at + 1]]
    return syms


def encode(text, spec):
    vocab, ranks, specials = spec["vocab"], spec["ranks"], spec["specials"]
    ids = [spec["bos"]] if spec.get("bos") is not None else []
    i, start = 0, 0
    spans = []
    order = sorted(specials, key=len, reverse=True)
    while i < len(text):
        hit = next((s for s in order if text.startswith(s, i)), None)
        if hit is None:
            i += 1
            continue
        spans.append(("text", text[start:i]))
        spans.append(("special", hit))
        i += len(hit)
        start = i
    spans.append(("text", text[start:]))
    for kind, s in spans:
        if kind == "special":
            ids.append(specials[s])
            continue
        for p in pieces(s, spec["pattern"]) if s else []:
            u = to_unicode(p)
            if spec["ignore_merges"] and u in vocab:
                ids.append(vocab[u])
                continue
            ids.extend(vocab[t] for t in bpe(u, ranks))
    return ids


CORPUS = ("When Mary and John went to the store, John gave a drink to Mary. "
          "The war lasted from the year 1732 to the year 1798.\n"
          "def tokenize(text, vocab):\n    return [vocab[t] for t in text.split()]\n"
          "They'll say it's the tokenizer's job; we've heard THEY'RE right. "
          "Numbers: 7, 42, 365, 2024, 123456789. Café crème, naïve façade, 日本語のテキスト, "
          "Привет мир, emoji 🙂🙂 and tabs\tand  double  spaces.\n\n\nEnd.")

TEXTS = [
    "When Mary and John went to the store, John gave a drink to",
    "The war lasted from the year 1732 to the year 17",
    "They'll say it's THEY'RE and we'VE, I'm sure; you'd've",
    "Numbers 1 12 123 1234 12345 123456 3.14159 and 2024-01-02",
    "  leading spaces, trailing spaces   \n\n  indented\n\tline\r\nwindows",
    "def f(x):\n    return x  # comment\n",
    "Café crème naïve façade 日本語のテキスト Привет 🙂🙂🙂 ok",
    "<|begin_of_text|>Hello<|eot_id|> world<|end_of_text|>",
    "a tokenizer tokenizes; the tokenizer's tokens",
    "",
    "!!!???...,,,;;; --- ===",
    "x" * 40,
]


def build(name, pattern, ignore_merges, specials, bos, n_merges, extra_words, seed):
    merges = train(CORPUS, pattern, n_merges)
    tokens = [B2U[b] for b in range(256)] + [a + b for a, b in merges]
    for w in extra_words:  # whole words reachable only through ignore_merges
        if to_unicode(w) not in tokens:
            tokens.append(to_unicode(w))
    seen, uniq = set(), []
    for t in tokens:
        if t not in seen:
            seen.add(t)
            uniq.append(t)
    ids = list(range(len(uniq)))
    random.Random(seed).shuffle(ids)
    vocab = {t: i for t, i in zip(uniq, ids)}
    ranks = {m: r for r, m in enumerate(merges)}
    spec = {"vocab": vocab, "ranks": ranks, "specials": specials, "bos": bos, "pattern": pattern,
            "ignore_merges": ignore_merges}
    added = [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for s, i in specials.items()]
    tj = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None if name == "llama3" else {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": ignore_merges, "vocab": vocab,
                  "merges": [[a, b] for a, b in merges] if name == "llama3" else [a + " " + b for a, b in merges]},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
    }
    if bos is not None:
        bos_text = next(s for s, i in specials.items() if i == bos)
        tj["post_processor"] = {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
            {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": bos_text, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [{"SpecialToken": {"id": bos_text, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                      {"SpecialToken": {"id": bos_text, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {bos_text: {"id": bos_text, "ids": [bos], "tokens": [bos_text]}}}]}
    else:
        tj["post_processor"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                                "use_regex": False}
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False, indent=1)
    cases = [{"text": t, "ids": encode(t, spec)} for t in TEXTS]
    with open(os.path.join(d, "reference.json"), "w", encoding="utf-8") as f:
        json.dump({"note": "expected ids derived by make_tokenizer_fixtures.py from the documented "
                           "algorithm; to be replaced by Hugging Face tokenizers output",
                   "adds_bos": bos is not None, "bos_id": bos, "cases": cases}, f, ensure_ascii=False, indent=1)
    print(name, len(vocab), "tokens,", len(merges), "merges")


build("llama3", LLAMA3_PATTERN, True,
      {"<|begin_of_text|>": 128000, "<|end_of_text|>": 128001, "<|eot_id|>": 128009}, 128000, 400,
      [" tokenizer", " tokenizes", "year"], 1)
build("qwen2.5", QWEN2_PATTERN, False,
      {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645}, None, 400,
      [" tokenizer"], 2)
