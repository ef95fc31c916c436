#!/usr/bin/env python3
"""Fixtures for tests/unit/test_text_clean.c: prompts and what diffusers' Wan pipelines
make of them with prompt_clean (pipelines/wan/pipeline_wan.py) when ftfy is not
installed, the behaviour src/text/clean.c reproduces.

Writes tests/data/text/clean.json:
  {"cases": [[input, expected], ...],       expected = Python's prompt_clean
   "html5_only": [[input, python, zoetrope], ...]}
html5_only lists prompts with HTML5-only entity names, which Python decodes and
Zoetrope (HTML 4 names only) leaves as they are; the C test checks the zoetrope column
and that it differs from Python's.

    python tools/text/make_clean_fixtures.py [out_dir]
"""
import html
import json
import os
import sys
from html.entities import html5, name2codepoint

import regex as re  # as diffusers imports it: its \s is Unicode White_Space, without the
                    # U+001C-U+001F that str.strip() and the standard re's \s also take

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "tests", "data",
                                                          "text")


# diffusers' basic_clean / whitespace_clean with ftfy absent
def basic_clean(text):
    text = html.unescape(html.unescape(text))
    return text.strip()


def whitespace_clean(text):
    text = re.sub(r"\s+", " ", text)
    return text.strip()


def prompt_clean(text):
    return whitespace_clean(basic_clean(text))


WAN_NEGATIVE = ("色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，"
                "最差质量，低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的"
                "脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，"
                "背景人很多，倒着走")

LEGACY = sorted(n for n in html5 if not n.endswith(";") and n in name2codepoint)

CASES = [
    "a cat &amp; a dog",
    "&lt;b&gt;bold&lt;/b&gt; &quot;quoted&quot; &apos;single&apos;",
    "double escaped: &amp;lt;tag&amp;gt; &amp;amp;",
    "triple stays once escaped: &amp;amp;lt;",
    "&#38;#38; &#x26;lt; &#38;amp;",
    "&#65;&#x42;&#X43;&#68 &#x45 &#0000070; &#x000047;",
    "nul &#0; &#x0; &#00;",
    "cp1252 &#128;&#x80;&#x81;&#x8d;&#x8f;&#x90;&#x9d;&#x9f;&#150;&#151;&#153;",
    "bad &#xD800; &#xDFFF; &#x110000; &#99999999999999999999; &#xFFFFFFFFFFFF;",
    "dropped a&#1;b&#x7f;c&#xFDD0;d&#xFFFE;e&#x10FFFF;f&#11;g&#x1F;h&#x1FFFF;i",
    "line&#10;break&#13;cr&#9;tab&#12;ff&#32;sp&#xA0;nbsp&#x3000;ideo&#x85;nel",
    "not refs: &#; &#x; &#xg; & ; &; &&; &#-1; &# 1;",
    "&copy 2024 &reg; &eacute;t&eacute; &nbsp&nbsp; x&times3",
    "&notit; &notin; &notin &ampfoo; &ltx&gtx &quoty &amp",
    "&hellip; &mdash; &euro; &alefsym; &thetasym; &larr; &Omega; &spades;",
    "no semicolon, not legacy: &hellip &mdash &euro &Yuml &apos",
    "&lang;angle&rang; &lceil;x&rceil;",
    "&Aacute;&aacute;&AElig;&szlig;&yuml;&Yuml;&OElig;&Scaron;",
    "a\u00a0b\u2003c\u3000d\u2028e\u0085f\x1cg\x0bh\x0ci\r\nj\u1680k\u202fl\u205fm\u2029n",
    "separators \x1c\x1dinside stay \x1e \x1f, at the ends go",
    "\x1c \x1f  sep at both ends \x1d\x1e",
    "zero width is not space: a\u200bb\ufeffc\u180ed",
    "   leading and trailing \t\n ",
    "\u3000\u3000全角空格\u3000 ",
    "一只猫在阳光下的街道上慢慢走过，镜头缓缓左移。",
    WAN_NEGATIVE,
    "",
    "  \t\n\u00a0\u3000 ",
    "&&amp;& &amp&amp; &amp;&amp;amp;",
    "a&nbsp;&nbsp;b a&amp;nbsp;b a&#160;&#xa0;b",
    "🐱 &#x1F431; &#128049; &#x10000;",
    "&é; &caf&eacute; &café; &中文;",
    "&" + "a" * 40 + "; &" + "b" * 31 + "; &" + "c" * 32 + ";",
    "A cat&nbsp;&mdash; sitting &lt;here&gt;\n\n  on a mat.\t",
    "tab&\tamp; nl&\namp; sharp&#amp; lt&lt<",
    "\r\v\f",
    # every HTML 4 name with ';', every legacy name without it (before a space, a letter
    # and a digit), and numeric references 0-0x17F and the noncharacter ranges
    " ".join("&%s;" % n for n in sorted(name2codepoint)) + " &apos;",
    " ".join("&%s &%sz &%s9" % (n, n, n) for n in LEGACY),
    "".join("&#%d;" % i for i in range(0x180)),
    "".join("&#x%X;" % i for i in list(range(0xFDC8, 0xFDF8)) +
            [p * 0x10000 + 0xFFFD + k for p in range(17) for k in range(4)]),
]

HTML5_ONLY = [
    ("&AMP; &LT; &NewLine; &bigstar; &AMPx &COPY", "&AMP; &LT; &NewLine; &bigstar; &AMPx &COPY"),
    ("&bigstar;&amp;check; &ampersand;", "&bigstar;&check; &ersand;"),
]


def main():
    try:  # when diffusers is here without ftfy, its own prompt_clean must agree
        from diffusers.pipelines.wan.pipeline_wan import prompt_clean as diffusers_clean
        from diffusers.utils import is_ftfy_available
        if not is_ftfy_available():
            for t in CASES:
                assert diffusers_clean(t) == prompt_clean(t), t
            print("diffusers' prompt_clean agrees on all cases")
    except ImportError:
        pass
    cases = [[t, prompt_clean(t)] for t in CASES]
    only = []
    for t, ours in HTML5_ONLY:
        py = prompt_clean(t)
        assert py != ours, t
        only.append([t, py, ours])
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "clean.json"), "w", encoding="utf-8") as f:
        json.dump({"cases": cases, "html5_only": only}, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print("wrote %s/clean.json: %d cases, %d HTML5-only" % (OUT, len(cases), len(only)))


if __name__ == "__main__":
    main()
