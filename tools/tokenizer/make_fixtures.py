#!/usr/bin/env python3
"""Fixtures for tests/unit/test_tokenizer.c: small SentencePiece unigram models in both
file formats plus test strings with the ids the `sentencepiece` library gives them.

Writes tests/data/tokenizer/:
  bf.model, bf.json       nmt_nfkc normalization, byte_fallback=True (umT5's setup)
  unk.model, unk.json     nmt_nfkc, byte_fallback=False, so unknown characters become
                          <unk>; one user-defined piece ("ZT")
  ws.model, ws.json       identity normalization, no dummy prefix, whitespace kept
  cases.json              {"texts": [...], "bf": [[ids]], "unk": [[ids]], "ws": [[ids]],
                           "hf_mismatch": {"bf": n, "unk": n, "ws": n}}

ids include the trailing </s> (id 1) as umT5's tokenizer adds it. The .json files come
from transformers' T5TokenizerFast (the Hugging Face converter); cases.json records how
many texts the HF fast tokenizer encodes differently from sentencepiece (the C code
follows sentencepiece). Deterministic: fixed seeds, single-threaded training.

    python tools/tokenizer/make_fixtures.py [out_dir]
"""
import json
import os
import random
import sys
import tempfile

import sentencepiece as spm
from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "tests", "data",
                                                          "tokenizer")

WAN_NEGATIVE = ("色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，"
                "最差质量，低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的"
                "脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，"
                "背景人很多，倒着走")

WORDS = {
    "en": ("a cat walks slowly across the sunny street while cars pass by in the golden "
           "light of late afternoon camera pans left cinematic shot of mountains under a "
           "stormy sky waves crash on rocks the astronaut rides a horse on the moon close "
           "up portrait of an old man smiling dog running through snow city at night neon "
           "lights reflections rain high quality 4k detailed realistic").split(),
    "zh": ("一只 猫 在 阳光 明媚 的 街道 上 慢慢 走 过 汽车 驶过 金色 的 光线 镜头 向左 平移 电影 "
           "镜头 山脉 暴风雨 天空 海浪 拍打 岩石 宇航员 骑马 月球 特写 老人 微笑 狗 雪地 奔跑 城市 "
           "夜晚 霓虹灯 倒影 下雨 高质量 细节 真实").split(),
    "ja": ("猫が 日当たりの 良い 通りを ゆっくり 歩いて います カメラ が 左に パン する 山 "
           "嵐の 空 波 岩 宇宙飛行士 馬に 乗る 月 クローズアップ 笑顔の 老人 雪の 中を 走る 犬 "
           "夜の 街 ネオン 雨 高品質 カタカナ テスト").split(),
    "ko": ("고양이가 햇살 가득한 거리를 천천히 걷고 있다 카메라가 왼쪽으로 이동한다 산 폭풍 하늘 "
           "파도 바위 우주비행사 말을 탄 달 클로즈업 웃는 노인 눈 속을 달리는 개 밤의 도시 네온 "
           "비 고품질").split(),
    "ru": ("кошка медленно идёт по солнечной улице машины проезжают мимо в золотом свете "
           "камера панорамирует влево горы под грозовым небом волны разбиваются о скалы "
           "космонавт едет на лошади по луне").split(),
    "ar": ("قطة تمشي ببطء عبر الشارع المشمس بينما تمر السيارات في الضوء الذهبي الكاميرا "
           "تتحرك إلى اليسار جبال تحت سماء عاصفة").split(),
    "fr": ("un chat marche lentement dans la rue ensoleillée pendant que les voitures "
           "passent à la lumière dorée caméra panoramique élève façade naïve déjà vu "
           "où l'été Ärger Größe schön Straße niño señor acción").split(),
}
EXTRA = ["１２３４５", "ＡＢＣ ａｂｃ", "ｶﾀｶﾅ", "①②③", "ﬁﬂ", "№ ™ ℃ ㎏ ½", "😀 🎬 👍🏽",
         "👨‍👩‍👧", "café cafe\u0301", "2024-01-31 12:34:56", "3.14159 100% $5 #tag @user",
         "(hello) [world] {x} <y> \"quote\" 'single'", "a\tb\nc", "e-mail: x@y.z",
         "…「」『』、。・！？", "Ωμέγα αλφάβητο", "עברית", "हिन्दी भाषा", "ไทย"]


def sentence(rng):
    lang = rng.choice(list(WORDS))
    words = [rng.choice(WORDS[lang]) for _ in range(rng.randint(3, 14))]
    sep = "" if lang in ("zh", "ja") and rng.random() < 0.5 else " "
    s = sep.join(words)
    if rng.random() < 0.3: s += rng.choice([".", ",", "!", "?", "。", "，", "！"])
    if rng.random() < 0.2: s += " " + rng.choice(EXTRA)
    if rng.random() < 0.1: s = s.capitalize()
    if rng.random() < 0.05: s = WAN_NEGATIVE
    return s


def training_text(rng, n):
    lines = [sentence(rng) for _ in range(n)]
    lines += EXTRA * 20 + [WAN_NEGATIVE] * 30
    return "\n".join(lines) + "\n"


# Blocks for random strings: (lo, hi) inclusive code points.
BLOCKS = [(0x20, 0x7E), (0x00, 0x1F), (0x7F, 0x9F), (0xA0, 0x24F), (0x300, 0x36F),
          (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x5FF), (0x600, 0x6FF), (0x900, 0x97F),
          (0xE00, 0xE7F), (0x1100, 0x11FF), (0x1E00, 0x1EFF), (0x2000, 0x206F),
          (0x2070, 0x209F), (0x2100, 0x218F), (0x2190, 0x23FF), (0x2460, 0x24FF),
          (0x2500, 0x27BF), (0x2E80, 0x2FDF), (0x3000, 0x30FF), (0x3130, 0x318F),
          (0x3200, 0x33FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xF900, 0xFAFF),
          (0xFB00, 0xFB4F), (0xFE30, 0xFE4F), (0xFE70, 0xFEFF), (0xFF00, 0xFFEF),
          (0x1D400, 0x1D7FF), (0x1F000, 0x1F2FF), (0x1F300, 0x1FAFF), (0x20000, 0x2A6DF),
          (0xE0000, 0xE007F), (0xF0000, 0xF00FF)]
SPACES = [" ", "  ", "   ", "\t", "\n", "\r\n", "\u3000", "\u00a0", "\u2003", "\u200b",
          "\ufeff"]


def random_char(rng):
    lo, hi = rng.choice(BLOCKS)
    while True:
        c = rng.randint(lo, hi)
        if not 0xD800 <= c <= 0xDFFF: return chr(c)


def random_string(rng):
    kind = rng.random()
    if kind < 0.35:
        return "".join(random_char(rng) if rng.random() < 0.8 else rng.choice(SPACES)
                       for _ in range(rng.randint(1, 24)))
    if kind < 0.55:  # training style wrapped in odd whitespace
        s = sentence(rng)
        return rng.choice(SPACES) * rng.randint(0, 3) + s.replace(
            " ", rng.choice(SPACES)) + rng.choice(SPACES) * rng.randint(0, 3)
    if kind < 0.75:  # NFKC-sensitive, combining, emoji
        parts = EXTRA + ["ﬃ", "Ⅻ", "㍿", "ｶﾞ", "ｳﾞ", "Ｈｅｌｌｏ", "x\u0308", "e\u0301\u0302",
                         "🏳️‍🌈", "👩🏾‍💻", "🇯🇵", "\u00ad", "\u2028", "\x00", "\x07",
                         "＜０x４１＞", "<0x41>", "</s>", "<unk>", "<pad>", "▁", "▁▁x", "ZT"]
        return "".join(rng.choice(parts + SPACES) for _ in range(rng.randint(1, 8)))
    return sentence(rng)


def test_strings():
    rng = random.Random(1234)
    fixed = ["", " ", "   ", "\t\n", "a", " a", "a ", "  a  b   c  ", "hello world",
             WAN_NEGATIVE, "A cat, walking.", "ﬁ ① ｶ Ａ", "\u3000全角\u3000スペース\u3000",
             "a\u200bb", "▁", "▁▁", "x▁y", "ZTZT ZT", "<s> </s> <unk> <pad>", "\x00a\x00",
             "😀" * 5, "ĀĀĀ ǅǅ", "\u0301\u0301a"]
    texts = fixed + [random_string(rng) for _ in range(2100)]
    seen, out = set(), []
    for t in texts:
        if t not in seen:
            seen.add(t)
            out.append(t)
    # long enough for sentencepiece's path score re-centring (|score| > 1e5)
    long = ("龘" * 3000 + " a cat walks slowly... 一只猫 ") * 3 + "hello" * 2000
    return out[:1999] + [long]


def train(prefix, text_path, **kw):
    spm.SentencePieceTrainer.train(
        input=text_path, model_prefix=prefix, model_type="unigram", num_threads=1,
        pad_id=0, eos_id=1, bos_id=2, unk_id=3, pad_piece="<pad>", eos_piece="</s>",
        bos_piece="<s>", unk_piece="<unk>", minloglevel=2, hard_vocab_limit=False, **kw)


def hf_tokenizer(model, sp, byte_fallback, add_prefix_space):
    """tokenizer.json as transformers' T5 converter writes it (what T5TokenizerFast
    saves), with no <extra_id_N> tokens. The T5 converter drops byte_fallback; the
    byte-fallback fixture keeps it, as the Llama converter would."""
    from transformers.convert_slow_tokenizer import T5Converter

    class Slow:
        vocab_file = model
        _extra_ids = 0
        legacy = True

        def convert_tokens_to_ids(self, t):
            return sp.piece_to_id(t)

    slow = Slow()
    slow.add_prefix_space = add_prefix_space
    conv = T5Converter(slow)
    conv.handle_byte_fallback = byte_fallback
    return conv.converted()


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = random.Random(42)
    texts = test_strings()
    cases = {"texts": texts, "hf_mismatch": {}}
    with tempfile.TemporaryDirectory() as tmp:
        text_path = os.path.join(tmp, "train.txt")
        with open(text_path, "w", encoding="utf-8") as f:
            f.write(training_text(rng, 6000))
        train(os.path.join(tmp, "bf"), text_path, vocab_size=3000, byte_fallback=True,
              character_coverage=0.9995)
        train(os.path.join(tmp, "unk"), text_path, vocab_size=2000, byte_fallback=False,
              character_coverage=0.98, user_defined_symbols=["ZT"])
        train(os.path.join(tmp, "ws"), text_path, vocab_size=1000, byte_fallback=False,
              character_coverage=0.98, normalization_rule_name="identity",
              add_dummy_prefix=False, remove_extra_whitespaces=False)
        for name in ("bf", "unk", "ws"):
            model = os.path.join(tmp, name + ".model")
            sp = spm.SentencePieceProcessor(model_file=model)
            ids = [sp.encode(t) + [sp.eos_id()] for t in texts]
            cases[name] = ids
            with open(model, "rb") as f, open(os.path.join(OUT, name + ".model"), "wb") as g:
                g.write(f.read())
            hf = hf_tokenizer(model, sp, byte_fallback=(name == "bf"),
                              add_prefix_space=(name != "ws"))
            tj = json.loads(hf.to_str())
            if name == "ws":
                # The converter always writes Strip + Replace(" {2,}"), which is
                # remove_extra_whitespaces=true; this model keeps whitespace.
                tj["normalizer"] = None
                hf = Tokenizer.from_str(json.dumps(tj))
            with open(os.path.join(OUT, name + ".json"), "w", encoding="utf-8") as f:
                json.dump(tj, f, ensure_ascii=False, separators=(",", ":"))
            hf_ids = [e.ids for e in hf.encode_batch(texts)]
            bad = [i for i in range(len(texts)) if hf_ids[i] != ids[i]]
            cases["hf_mismatch"][name] = len(bad)
            print(f"{name}: {sp.get_piece_size()} pieces, {len(texts)} texts, HF fast "
                  f"differs on {len(bad)}", file=sys.stderr)
            for i in bad[:5]:
                print(f"  {texts[i]!r}: spm {ids[i]} hf {hf_ids[i]}",
                      file=sys.stderr)
    with open(os.path.join(OUT, "cases.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False, separators=(",", ":"))


if __name__ == "__main__":
    main()
