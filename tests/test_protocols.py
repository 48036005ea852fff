"""`xbench eval --protocol study|harness`: exact prompts, token rules, and parity with the official rules.

The parity tests re-state the official code's rules from their definitions (google-research/
crosslingual-knowledge-barriers: MMLU/dataset/mmlu.py, MMLU/models/hf.py, HP/evaluate.py) in a
few lines each, independently of xbench, and check xbench's predictions are the same.
"""

import copy
import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from helpers import write_jsonl
from runner_fixtures import (
    byte_level_tokenizer,
    save_tiny_model,
    sentencepiece_style_tokenizer,
    tiny_llama,
)
from typer.testing import CliRunner

import xbench
from xbench.builders.hp_quiz import instruction_header
from xbench.builders.mmlu_mixup import load_source
from xbench.built_dataset import ConfigMetadata
from xbench.cli import app
from xbench.errors import InputError
from xbench.runner import prompts, protocols
from xbench.runner.evaluate import _prompt_texts, evaluate
from xbench.runner.model import LoadedModel, load_model
from xbench.runner.results import PromptSettings, load_results
from xbench.runner.scoring import McScorer, option_tokens, resolve_option_tokens

SAMPLE = load_source("sample", ("test", "dev"))
ROW = {"question": "Q?", "choices": ["w", "x", "y", "z"], "answer": 2, "subject": "high_school_geography"}
DEMOS = [{"question": "D1?", "choices": ["a", "b", "c", "d"], "answer": 1}, {"question": "D2?", "choices": ["e", "f", "g", "h"], "answer": 3}]
BLOCK = "Q?\nA. w\nB. x\nC. y\nD. z\nAnswer:"
STUDY_HEADER = "The following are multiple choice questions (with answers) about  high school geography."
HARNESS_HEADER = "The following are multiple choice questions (with answers) about high school geography."


MMLU_EN = ConfigMetadata("mmlu_mixup", "multiple_choice", "en", ("en",))
MMLU_MIXUP = ConfigMetadata("mmlu_mixup", "multiple_choice", "en", ("en", "fr", "de", "es", "it"))


def hp_config(lang):
    """What an hp_quiz build's card says of its config in ``lang``."""
    return ConfigMetadata("hp_quiz", "multiple_choice", lang, (lang,), instruction_header(lang))


def settings(protocol, shots=0, demos="english", ids="ABCD", instruction="none", strategy="maxprob", **extra):
    return PromptSettings(shots, demos, ids, instruction, strategy, protocol, **extra)


# --- exact prompts --------------------------------------------------------------------------


@pytest.mark.parametrize(("protocol", "header"), [("study", STUDY_HEADER), ("harness", HARNESS_HEADER)])
def test_mmlu_zero_and_two_shot(protocol, header):
    assert _prompt_texts([ROW], [], MMLU_EN, settings(protocol), "ABCD") == [f"{header}\n\n{BLOCK}"]
    two = _prompt_texts([ROW], DEMOS, MMLU_EN, settings(protocol, shots=2), "ABCD")[0]
    assert two == f"{header}\n\nD1?\nA. a\nB. b\nC. c\nD. d\nAnswer: B\n\nD2?\nA. e\nB. f\nC. g\nD. h\nAnswer: D\n\n{BLOCK}"


def test_study_subject_words_each_get_a_leading_space():
    assert prompts.mmlu_header_sentence("us_foreign_policy", "study").endswith("about  us foreign policy.")
    assert prompts.mmlu_header_sentence("virology", "study").endswith("about  virology.")
    assert prompts.mmlu_header_sentence("virology", "harness").endswith("about virology.")


@pytest.mark.parametrize(
    ("instruction", "sentence"),
    [
        ("aware0", "Keep in mind that the question and options may be presented in various languages."),
        ("aware1", "Remember that the question and options can be in different languages."),
    ],
)
def test_study_aware_instructions_follow_the_header_with_one_space(instruction, sentence):
    text = _prompt_texts([ROW], [], MMLU_EN, settings("study", instruction=instruction), "ABCD")[0]
    assert text == f"{STUDY_HEADER} {sentence}\n\n{BLOCK}"


@pytest.mark.parametrize(("ids", "block"), [("abcd", "Q?\na. w\nb. x\nc. y\nd. z\nAnswer:"), ("1234", "Q?\n1. w\n2. x\n3. y\n4. z\nAnswer:")])
def test_study_option_ids(ids, block):
    text = _prompt_texts([ROW], DEMOS[:1], MMLU_EN, settings("study", shots=1, ids=ids), prompts.option_ids(ids))[0]
    demo = "D1?\n{0}. a\n{1}. b\n{2}. c\n{3}. d\nAnswer: {1}\n\n".format(*ids)
    assert text == f"{STUDY_HEADER}\n\n{demo}{block}"


HP_ROW = {"question": "Q?", "choices": ["w", "x", "y", "z"], "answer": 0, "entity": "Harry Potter"}


@pytest.mark.parametrize(
    ("config", "sentence"),
    [
        ("en", "The following are multiple choice questions (with answers) about Harry Potter."),
        ("fr", "Vous trouverez ci-dessous des questions à choix multiples (avec réponses) sur Harry Potter."),
        ("de", "Im Folgenden finden Sie Multiple-Choice-Fragen (mit Antworten) zu Harry Potter."),
        ("es", "Las siguientes son preguntas de opción múltiple (con respuestas) sobre Harry Potter."),
        ("it", "Di seguito sono riportate domande a scelta multipla (con risposte) su Harry Potter."),
    ],
)
def test_study_hp_quiz_prompt_uses_the_official_sentence_and_a_trailing_space(config, sentence):
    assert _prompt_texts([HP_ROW], [], hp_config(config), settings("study"), "ABCD") == [f"{sentence}\n\nQ?\nA. w\nB. x\nC. y\nD. z\nAnswer: "]


def test_hp_quiz_other_languages_keep_the_native_header():
    native = instruction_header("ru")
    assert _prompt_texts([HP_ROW], [], hp_config("ru"), settings("study"), "ABCD") == [f"{native}\n\nQ?\nA. w\nB. x\nC. y\nD. z\nAnswer: "]
    fr = instruction_header("fr")
    assert _prompt_texts([HP_ROW], [], hp_config("fr"), settings("harness"), "ABCD") == [f"{fr}\n\nQ?\nA. w\nB. x\nC. y\nD. z\nAnswer:"]


def test_study_translate_then_answer_prompt():
    mixed = {"question": "[fr] D?", "choices": ["[fr] a", "b", "c", "d"], "answer": 3}
    english = {"question": "D?", "choices": ["a", "b", "c", "d"], "answer": 3}
    row = {"question": "[de] Q?", "choices": ["w", "[de] x", "y", "z"], "answer": 0, "subject": "virology"}
    text = _prompt_texts([row], [(mixed, english)], MMLU_MIXUP, settings("study", shots=1, demos="translate", instruction="aware2"), "ABCD")[0]
    assert text == (
        "The following are multiple choice questions (with answers) about  virology. Remember that the question and options can be "
        "in different languages. First translate them all to English. Then output the answer.\n\n"
        "Question: [fr] D?\nA. [fr] a\nB. b\nC. c\nD. d\nAnswer: \nTranslate the question and options into English, and then answer.\n"
        "Question: D?\nA. a\nB. b\nC. c\nD. d\nAnswer: D\n\n"
        "Question: [de] Q?\nA. w\nB. [de] x\nC. y\nD. z\nAnswer: \nTranslate the question and options into English, and then answer.\nQuestion: "
    )


@pytest.mark.parametrize(
    ("template", "prompt"),
    [
        ("llama2", "[INST] Who? [/INST]"),
        ("phi", "Question: Who?\n"),
        ("stablelm", "Question: Who?\n"),
        ("pythia", "Question: Who?\n"),
        ("plain", "Question: Who?\nAnswer:"),
    ],
)
def test_tofu_templates(template, prompt):
    assert protocols.TOFU_TEMPLATES[template].render("Who?") == prompt


def test_tofu_template_auto_follows_the_architecture():
    assert protocols.tofu_template_name("auto", "llama") == "llama2"
    assert protocols.tofu_template_name("auto", "phi") == "phi"
    assert protocols.tofu_template_name("auto", "gpt_neox") == "pythia"
    assert protocols.tofu_template_name("auto", "qwen2") == "plain"
    assert protocols.tofu_template_name("phi", "llama") == "phi"
    with pytest.raises(InputError, match="--tofu-template: unknown template 'gpt'"):
        protocols.check_template("gpt")


def chat_tokenizer():
    tokenizer = copy.deepcopy(byte_level_tokenizer())
    tokenizer.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
    )
    return tokenizer


def test_chat_template_and_system_prompt():
    tokenizer = chat_tokenizer()
    assert prompts.wrap("P", tokenizer, system_prompt="Be brief.") == "Be brief.\n\nP"
    assert prompts.wrap("P", tokenizer, chat_template=True, system_prompt="Be brief.") == "<|system|>\nBe brief.\n<|user|>\nP\n<|assistant|>\n"
    assert prompts.wrap("P", tokenizer, chat_template=True) == "<|user|>\nP\n<|assistant|>\n"
    with pytest.raises(InputError, match="--apply-chat-template: this tokenizer has no chat template"):
        prompts.wrap("P", byte_level_tokenizer(), chat_template=True)
    text = _prompt_texts([ROW], [], MMLU_EN, settings("study", chat_template=True, system_prompt="S"), "ABCD", tokenizer)[0]
    assert text == f"<|system|>\nS\n<|user|>\n{STUDY_HEADER}\n\n{BLOCK}\n<|assistant|>\n"


# --- token rules ----------------------------------------------------------------------------


def test_byte_level_bpe_bare_and_spaced_letters_differ():
    tokenizer = byte_level_tokenizer()
    study = option_tokens(tokenizer, "ABCD", "study")
    harness = option_tokens(tokenizer, "ABCD", "harness")
    assert [tokenizer.convert_ids_to_tokens(t) for t in study.tokens] == ["A", "B", "C", "D"]
    assert [tokenizer.convert_ids_to_tokens(t) for t in harness.tokens] == ["ĠA", "ĠB", "ĠC", "ĠD"]
    assert set(study.tokens).isdisjoint(harness.tokens)
    assert study.tokens == tuple(tokenizer(label).input_ids[-1] for label in "ABCD")


@pytest.mark.parametrize("ids", ["ABCD", "abcd", "1234"])
def test_sentencepiece_bare_and_spaced_letters_agree(ids):
    tokenizer = sentencepiece_style_tokenizer()
    study = option_tokens(tokenizer, ids, "study")
    assert tokenizer("A").input_ids[0] == tokenizer.bos_token_id  # the letter alone comes after BOS: its last id is the letter's
    assert study.tokens == resolve_option_tokens(tokenizer, ids).tokens
    assert all(tokenizer.convert_ids_to_tokens(t) == "▁" + label for t, label in zip(study.tokens, ids))


def test_first_token_rule_per_protocol():
    assert protocols.first_token_matches(" A", "A", "study")  # the paper's § E.2 rule; the released code says no
    assert protocols.first_token_matches("A", "A", "study")
    assert not protocols.first_token_matches(" B", "A", "study")
    assert protocols.first_token_matches(" A", "A", "harness")
    tokenizer = byte_level_tokenizer()
    model = tiny_llama(tokenizer)
    spaced_a = tokenizer.convert_tokens_to_ids("ĠA")
    bare_b = tokenizer.convert_tokens_to_ids("B")
    for protocol, spaced_prediction, bare_prediction in (("study", 0, 1), ("harness", 0, -1)):
        scorer = McScorer(model, tokenizer, option_tokens(tokenizer, "ABCD", protocol), strategy="first-token", protocol=protocol)
        logits = torch.zeros(len(tokenizer))
        logits[spaced_a] = 5.0
        assert scorer._decide(logits).prediction == spaced_prediction
        logits = torch.zeros(len(tokenizer))
        logits[bare_b] = 5.0
        assert scorer._decide(logits).prediction == bare_prediction


@pytest.mark.parametrize(
    ("generation", "prediction"),
    [
        ("Which is it?\nA. w\nB. x\nC. y\nD. z\nAnswer: C\n\nQuestion: more", 2),
        ("Which?\nA. w\nAnswer:B", 1),
        ("Which?\nA. w\nAnswer: Because", -1),
        ("Which?\nA. w\nB. x", -1),
        ("Answer: \nD", -1),
    ],
)
def test_translate_then_answer_reads_the_letter_after_the_first_answer(generation, prediction):
    assert protocols.read_written_answer(generation, "ABCD") == prediction


def test_auto_dtype_follows_the_official_code_on_gpu_only():
    assert protocols.auto_dtype("mmlu", "cuda", "study", True) == "float16"
    assert protocols.auto_dtype("hp", "cuda:1", "study", True) == "bfloat16"
    assert protocols.auto_dtype("tofu", "cuda", "study", False) == "bfloat16"
    assert protocols.auto_dtype("mmlu", "cpu", "study", True) == "float32"
    assert protocols.auto_dtype("mmlu", "cuda", "harness", True) == "bfloat16"
    assert protocols.auto_dtype("mmlu", "cuda", "harness", False) == "float32"


# --- parity with the official rules, re-stated from their definitions ---------------------------

INTERVENTIONS = {  # MMLU/dataset/mmlu.py INTERV_PROMPTS
    0: "Keep in mind that the question and options may be presented in various languages.",
    1: "Remember that the question and options can be in different languages.",
}


def official_mmlu_prompt(subject, demos, row, intervention=-1):
    words = ""
    for word in subject.split("_"):
        words += " " + word
    text = f"The following are multiple choice questions (with answers) about {words}."
    text += (" " + INTERVENTIONS[intervention] + "\n\n") if intervention in INTERVENTIONS else "\n\n"

    def block(r, with_answer):
        out = r["question"]
        for letter, choice in zip("ABCD", r["choices"]):
            out += f"\n{letter}. {choice}"
        out += "\nAnswer:"
        return out + " {}\n\n".format("ABCD"[r["answer"]]) if with_answer else out

    return text + "".join(block(d, True) for d in demos) + block(row, False)


def official_hp_prompt(instruction, row):
    a, b, c, d = row["choices"]
    return instruction + "\n\n" + f"{row['question']}\nA. {a}\nB. {b}\nC. {c}\nD. {d}\nAnswer: "


def official_prediction(model, tokenizer, prompt):
    """hf.py query_logits: logits at the last position, each letter's id is tokenizer(letter).input_ids[-1]."""
    with torch.no_grad():
        last = model(input_ids=tokenizer(prompt, return_tensors="pt").input_ids).logits[0, -1]
    picked = torch.tensor([float(last[tokenizer(letter).input_ids[-1]]) for letter in "ABCD"])
    return int(torch.argmax(torch.softmax(picked, dim=0)))


def samples(folder):
    return {s["id"]: s for s in map(json.loads, (folder / "samples.jsonl").read_text().splitlines())}


@pytest.fixture(scope="module", params=["byte-level", "sentencepiece"])
def tiny(request):
    tokenizer = byte_level_tokenizer() if request.param == "byte-level" else sentencepiece_style_tokenizer()
    return LoadedModel(tiny_llama(tokenizer), tokenizer, f"tiny-{request.param}", None, "cpu", "float32")


@pytest.mark.parametrize(
    ("config", "shots", "intervention"),
    [
        ("en", 0, -1),
        pytest.param("en", 5, -1, marks=pytest.mark.slow),
        pytest.param("fr_full", 0, 1, marks=pytest.mark.slow),
        ("fr_full", 5, 1),
    ],
)
def test_study_mmlu_predictions_equal_the_official_rules(tiny, sample_mmlu_dir, tmp_path, config, shots, intervention):
    instruction = {-1: "none", 1: "aware1"}[intervention]
    evaluate(tiny, str(sample_mmlu_dir), out=tmp_path, configs=[config], shots=shots, instruction=instruction, protocol="study")
    ours = samples(tmp_path / config)
    from datasets import load_dataset

    test = load_dataset(str(sample_mmlu_dir), config, split="test").to_list()
    dev = load_dataset(str(sample_mmlu_dir), "en", split="dev").to_list()  # English demos
    agree = []
    for row in test:
        demos = [d for d in dev if d["subject"] == row["subject"]][:shots]
        prompt = official_mmlu_prompt(row["subject"], demos, row, intervention)
        assert ours[row["id"]]["prompt_hash"] == __import__("hashlib").sha256(prompt.encode()).hexdigest()
        agree.append(official_prediction(tiny.model, tiny.tokenizer, prompt) == ours[row["id"]]["prediction"])
    assert len(agree) == 40 and all(agree)
    assert len({s["prediction"] for s in ours.values()}) > 1


def test_harness_and_study_predictions_differ_on_a_byte_level_tokenizer(sample_mmlu_dir, tmp_path):
    tokenizer = byte_level_tokenizer()
    loaded = LoadedModel(tiny_llama(tokenizer), tokenizer, "tiny", None, "cpu", "float32")
    evaluate(loaded, str(sample_mmlu_dir), out=tmp_path / "s", configs=["en"], protocol="study")
    evaluate(loaded, str(sample_mmlu_dir), out=tmp_path / "h", configs=["en"], protocol="harness")
    study, harness = samples(tmp_path / "s" / "en"), samples(tmp_path / "h" / "en")
    assert any(study[i]["prediction"] != harness[i]["prediction"] for i in study)


def test_study_hp_quiz_predictions_equal_the_official_rules(tiny, tmp_path, cache_path):
    english = [
        {"question": "What house was Harry Potter in?", "A": "Gryffindor", "B": "Slytherin", "C": "Hufflepuff", "D": "Ravenclaw", "GT": "A"},
        {"question": "What type of spell is Accio?", "A": "Curse", "B": "Charm", "C": "Hex", "D": "Jinx", "GT": "B"},
        {"question": "Who is Draco Malfoy's father?", "A": "Arthur", "B": "Sirius", "C": "Lucius", "D": "Albus", "GT": "C"},
        {"question": "What does Lumos do?", "A": "Unlocks", "B": "Heals", "C": "Stuns", "D": "Lights a wand", "GT": "D"},
    ]
    french = [
        {"question": "Dans quelle maison était Harry Potter ?", "A": "Gryffondor", "B": "Serpentard", "C": "Poufsouffle", "D": "Serdaigle", "GT": "A"},
        {"question": "Quel type de sort est Accio ?", "A": "Maléfice", "B": "Sortilège", "C": "Sort", "D": "Mauvais sort", "GT": "B"},
        {"question": "Qui est le père de Drago Malefoy ?", "A": "Arthur", "B": "Sirius", "C": "Lucius", "D": "Albus", "GT": "C"},
        {"question": "Que fait Lumos ?", "A": "Ouvre", "B": "Soigne", "C": "Stupéfie", "D": "Allume une baguette", "GT": "D"},
    ]
    folder = tmp_path / "published"
    write_jsonl(folder / "English.jsonl", english)
    write_jsonl(folder / "French.jsonl", french)
    built = tmp_path / "hp_published"  # a name no other test builds: datasets' cache keys local builds by folder name
    xbench.build("hp_quiz", out=built, source=str(folder), cache=cache_path, langs="fr")
    results = evaluate(tiny, str(built), out=tmp_path / "run", configs=["en", "fr"], protocol="study")
    instructions = {  # HP/evaluate.py
        "en": "The following are multiple choice questions (with answers) about Harry Potter.",
        "fr": "Vous trouverez ci-dessous des questions à choix multiples (avec réponses) sur Harry Potter.",
    }
    for config, published in (("en", english), ("fr", french)):
        ours = list(samples(tmp_path / "run" / config).values())
        for record, sample in zip(published, ours):
            row = {"question": record["question"], "choices": [record[k] for k in "ABCD"]}
            assert official_prediction(tiny.model, tiny.tokenizer, official_hp_prompt(instructions[config], row)) == sample["prediction"]
            assert sample["target"] == "ABCD".index(record["GT"])
    assert [r.signature.split("|protocol:")[1] for r in results] == ["study|v:0.1.0"] * 2


# --- runs: results, resume, TOFU, CLI -------------------------------------------------------------


def test_results_record_protocol_dtype_and_signature(tiny_model_dir, sample_mmlu_dir, tmp_path):
    result = evaluate(str(tiny_model_dir), str(sample_mmlu_dir), out=tmp_path / "run", configs=["en"], limit=3, device="cpu", protocol="harness")[0]
    on_disk = load_results(tmp_path / "run" / "en" / "results.json")
    assert on_disk.prompt.protocol == "harness" and on_disk.dtype == "float32" and on_disk.tokenizer is None
    assert result.signature == (
        f"xbench:mmlu|cfg:en|data:{result.dataset_hash[:12]}|build:mmlu_mixup/pseudo/seed:0/v:0.1.0"
        "|shots:0|demos:english|ids:ABCD|instr:none|strategy:maxprob|protocol:harness|v:0.1.0"
    )
    chat = settings("study", chat_template=True, system_prompt="Be brief.")
    from xbench.runner.results import eval_signature

    assert eval_signature(str(sample_mmlu_dir), "en", chat).endswith(
        "|protocol:study|chat:1|sys:" + __import__("hashlib").sha256(b"Be brief.").hexdigest()[:8] + "|v:0.1.0"
    )
    old = json.loads((tmp_path / "run" / "en" / "results.json").read_text())
    del old["prompt"]["protocol"]
    from xbench.runner.results import RunResult

    assert RunResult.from_dict(old).prompt.protocol == "harness"  # runs from before protocols were harness runs


def test_resume_rescores_when_the_protocol_changes(sample_mmlu_dir, tmp_path):
    tokenizer = sentencepiece_style_tokenizer()  # same prompt text under both protocols for this header-less check
    loaded = LoadedModel(tiny_llama(tokenizer), tokenizer, "tiny", None, "cpu", "float32")
    evaluate(loaded, str(sample_mmlu_dir), out=tmp_path / "run", configs=["en"], limit=4, protocol="harness")
    first = samples(tmp_path / "run" / "en")
    evaluate(loaded, str(sample_mmlu_dir), out=tmp_path / "run", configs=["en"], limit=4, protocol="study", resume=True)
    again = samples(tmp_path / "run" / "en")
    assert all(again[i]["run_key"] != first[i]["run_key"] for i in first)
    evaluate(loaded, str(sample_mmlu_dir), out=tmp_path / "fresh", configs=["en"], limit=4, protocol="study")
    assert (tmp_path / "run" / "en" / "samples.jsonl").read_text() == (tmp_path / "fresh" / "en" / "samples.jsonl").read_text()


def test_study_translate_then_answer_generates_then_reads_the_letter(sample_mmlu_dir, tmp_path):
    tokenizer = byte_level_tokenizer()
    loaded = LoadedModel(tiny_llama(tokenizer), tokenizer, "tiny", None, "cpu", "float32")
    result = evaluate(
        loaded, str(sample_mmlu_dir), out=tmp_path, configs=["fr_full"], shots=2, demos="translate", limit=3, max_new_tokens=12, protocol="study"
    )[0]
    assert result.prompt.instruction == "aware2" and "|demos:translate|ids:ABCD|instr:aware2|" in result.signature
    for sample in samples(tmp_path / "fr_full").values():
        assert sample["prediction"] == protocols.read_written_answer(sample["generation"], "ABCD")
        assert sample["probs"] == [] and sample["correct"] == (sample["prediction"] == sample["target"])
    with pytest.raises(InputError, match="translate-then-answer has its own instruction"):
        evaluate(loaded, str(sample_mmlu_dir), out=tmp_path, configs=["fr_full"], shots=2, demos="translate", instruction="aware1", protocol="study")


PERTURBED = [
    {"question": "Who is the author born in Taipei?", "answer": "Hsiao Yun-Hwa.", "paraphrased_question": "Which writer was born in Taipei?"},
    {"question": "What does Hsiao write?", "answer": "Leadership books.", "paraphrased_question": "In which genre does Hsiao write?"},
]


def tofu_build(tmp_path, rows, name):
    out = tmp_path / name
    source = write_jsonl(tmp_path / f"{name}.jsonl", rows)
    xbench.build("tofu", out=out, source=str(source), translator="pseudo", langs="fr", cache=tmp_path / "c.sqlite")
    return out


def test_study_tofu_prompts_the_paraphrased_question_in_the_family_template(tmp_path, monkeypatch):
    from xbench.runner import generation

    seen = []  # (prompt, token budget); the answers themselves do not matter here
    monkeypatch.setattr(generation, "greedy_continuation", lambda m, t, prompt, n, *a, **k: seen.append((prompt, n)) or " Hsiao Yun-Hwa. Leadership books. ")
    tokenizer = byte_level_tokenizer()
    loaded = LoadedModel(tiny_llama(tokenizer), tokenizer, "tiny", None, "cpu", "float32")
    built = tofu_build(tmp_path, PERTURBED, "forget01_perturbed")
    result = evaluate(loaded, str(built), out=tmp_path / "run", configs=["forget01_perturbed_fr"], split="train", protocol="study")[0]
    assert seen[0][0] == "[INST] [fr] Which writer was born in Taipei? [/INST]"  # a Llama architecture: TOFU's llama2 tags
    assert seen[0][1] == protocols.TOFU_MAX_LENGTH - len(tokenizer(seen[0][0]).input_ids)
    assert "|strategy:greedy:len200|rouge:default|template:llama2|q:paraphrased_question|protocol:study|" in result.signature
    assert result.metrics["rouge1_recall"].value == 1.0  # scored against the English answer
    seen.clear()
    evaluate(
        loaded, str(built), out=tmp_path / "phi", configs=["forget01_perturbed_fr"], split="train", protocol="study", tofu_template="phi", max_new_tokens=5
    )
    assert seen == [("Question: [fr] Which writer was born in Taipei?\n", 5), ("Question: [fr] In which genre does Hsiao write?\n", 5)]
    seen.clear()
    evaluate(loaded, str(built), out=tmp_path / "h", configs=["forget01_perturbed_fr"], split="train", protocol="harness", max_new_tokens=5)
    assert seen[0] == ("Question: [fr] Who is the author born in Taipei?\nAnswer:", 5)


def run_cli(*args):
    result = CliRunner().invoke(app, ["eval", *args, "--quiet"])
    return result.exit_code, " ".join(result.output.split())


def test_cli_tofu_without_paraphrased_questions_exits_2_naming_the_subsets(tiny_model_dir, tmp_path):
    plain = tofu_build(tmp_path, [{k: r[k] for k in ("question", "answer")} for r in PERTURBED], "full")
    code, output = run_cli("--model", str(tiny_model_dir), "--dataset", str(plain), "--configs", "full_fr", "--split", "train", "--out", str(tmp_path / "run"))
    assert code == 2 and "full_fr: no paraphrased_question column" in output and "forget01/05/10_perturbed" in output
    assert not (tmp_path / "run").exists()
    code, output = run_cli(
        "--model",
        str(tiny_model_dir),
        "--dataset",
        str(plain),
        "--configs",
        "full_fr",
        "--split",
        "train",
        "--out",
        str(tmp_path / "h"),
        "--protocol",
        "harness",
        "--max-new-tokens",
        "3",
    )
    assert code == 0, output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--protocol", "paper"], "--protocol: unknown protocol 'paper'; choose from study, harness"),
        (["--tofu-template", "gpt"], "--tofu-template: unknown template 'gpt'"),
        (["--tokenizer", "/nonexistent/tok"], "--tokenizer: /nonexistent/tok does not exist"),
        (["--apply-chat-template"], "--apply-chat-template: this tokenizer has no chat template"),
    ],
)
def test_cli_bad_protocol_template_or_tokenizer_exits_2(tiny_model_dir, sample_mmlu_dir, tmp_path, extra, message):
    code, output = run_cli(
        "--model", str(tiny_model_dir), "--dataset", str(sample_mmlu_dir), "--configs", "en", "--limit", "2", "--out", str(tmp_path / "run"), *extra
    )
    assert code == 2 and message in output
    assert output.count("error:") == 1


def test_cli_tokenizer_from_elsewhere(sample_mmlu_dir, tmp_path):
    model = save_tiny_model(tmp_path / "model")
    tokenizer_dir = tmp_path / "tok"
    byte_level_tokenizer().save_pretrained(tokenizer_dir)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (model / name).unlink(missing_ok=True)
    code, output = run_cli(
        "--model",
        str(model),
        "--dataset",
        str(sample_mmlu_dir),
        "--configs",
        "en",
        "--limit",
        "2",
        "--out",
        str(tmp_path / "run"),
        "--tokenizer",
        str(tokenizer_dir),
    )
    assert code == 0, output
    assert load_results(tmp_path / "run" / "en" / "results.json").tokenizer == str(tokenizer_dir)
    assert load_model(str(model), device="cpu", tokenizer=str(tokenizer_dir)).tokenizer("A").input_ids == byte_level_tokenizer()("A").input_ids
