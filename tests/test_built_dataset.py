"""Reading a built dataset: what its card says of each config, and the one Hub loader (offline:
``datasets.load_dataset`` is replaced)."""

import datasets
import pytest
from helpers import MMLU_TEST, write_jsonl, write_xbench_card

import xbench
from xbench.builders.hp_quiz import instruction_header
from xbench.built_dataset import ConfigMetadata, read_card
from xbench.errors import InputError, XbenchError
from xbench.runner import prompts
from xbench.sources import load_hub_dataset


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    root = tmp_path_factory.mktemp("builds")
    xbench.build("hp_quiz", out=root / "hp", cache=root / "c.sqlite", langs="fr")
    xbench.build("mmlu_mixup", out=root / "mmlu", source="sample", translator="pseudo", langs="fr", formats="full,gt_option", cache=root / "c.sqlite")
    return root


def test_an_hp_quiz_card_gives_each_config_its_language_and_header(builds):
    card = read_card(str(builds / "hp"))
    assert card.family == "hp_quiz" and set(card.configs) == {"en", "fr"}
    fr = card.config("fr", {})
    assert fr == ConfigMetadata("hp_quiz", "multiple_choice", "fr", ("fr",), instruction_header("fr"))
    assert prompts.header_sentence({}, fr, "harness") == "Voici des questions à choix multiples (avec leurs réponses) sur Harry Potter."
    official = "Vous trouverez ci-dessous des questions à choix multiples (avec réponses) sur Harry Potter."
    assert prompts.header_sentence({}, fr, "study") == official


def test_an_mmlu_card_has_no_header_and_the_cell_languages(builds):
    card = read_card(str(builds / "mmlu"))
    assert card.family == "mmlu_mixup"
    assert card.configs["en"] == ConfigMetadata("mmlu_mixup", "multiple_choice", "en", ("en",))
    assert card.configs["fr_full"].languages == ("fr",) and card.configs["fr_gt_option"].languages == ("en", "fr")
    assert card.configs["fr_gt_option"].language == "fr" and card.configs["fr_gt_option"].header is None
    row = {"subject": "virology"}
    assert prompts.header_sentence(row, card.configs["fr_gt_option"], "study") == "The following are multiple choice questions (with answers) about  virology."


def test_without_metadata_choices_make_generic_multiple_choice_and_nothing_else_is_read(tmp_path):
    folder = write_jsonl(tmp_path / "plain" / "test.jsonl", MMLU_TEST).parent
    card = read_card(str(folder))
    assert card.family is None and card.configs == {}
    generic = card.config("default", MMLU_TEST[0])
    assert generic.kind == "multiple_choice" and generic.family is None
    assert prompts.header_sentence({}, generic, "study") == prompts.GENERIC_HEADER
    with pytest.raises(InputError, match=r"config 'default': no xbench metadata in its card; rebuild it with this xbench"):
        card.config("default", {"question": "Who?", "answer": "Me."})


def test_a_card_block_that_is_not_metadata_is_bad_input(tmp_path):
    folder = write_xbench_card(tmp_path / "bad", "tofu", {"default": {"kind": "essay", "language": "en"}})
    with pytest.raises(InputError, match=r"README.md: xbench: config 'default': expected a kind \(multiple_choice, generation, text\)"):
        read_card(str(folder))
    (folder / "README.md").write_text("---\nxbench: [unclosed\n---\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"README\.md: invalid YAML front matter"):
        read_card(str(folder))


def test_a_hub_card_is_read_at_the_revision(builds, monkeypatch):
    import huggingface_hub

    asked = []

    def download(repo, filename, *, repo_type, revision):
        asked.append((repo, filename, repo_type, revision))
        return str(builds / "hp" / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    hub = read_card("org/hp", revision="abc123")
    assert hub.dataset == "org/hp" and hub.family == "hp_quiz" and hub.configs == read_card(str(builds / "hp")).configs
    assert asked == [("org/hp", "README.md", "dataset", "abc123")]

    def offline(*args, **kwargs):
        raise ConnectionError("offline")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    with pytest.raises(XbenchError, match=r"^could not read the card of org/hp \(ConnectionError\); check the network or HF_TOKEN$"):
        read_card("org/hp")


# --- the one Hub loader -----------------------------------------------------------------------


def fake_load_dataset(monkeypatch, error=None):
    calls = []

    def load(repo, config=None, *, split=None, revision=None):
        calls.append((repo, config, split, revision))
        if error:
            raise error
        return datasets.Dataset.from_list([{"text": "row"}])

    monkeypatch.setattr(datasets, "load_dataset", load)
    return calls


def test_hub_loader_passes_config_split_and_revision(monkeypatch):
    calls = fake_load_dataset(monkeypatch)
    assert load_hub_dataset("org/data", "fr", "test", revision="abc123").to_list() == [{"text": "row"}]
    assert calls == [("org/data", "fr", "test", "abc123")]


def test_hub_loader_missing_dataset_config_or_split_is_bad_input(monkeypatch):
    fake_load_dataset(monkeypatch, datasets.exceptions.DatasetNotFoundError("Dataset 'org/none' doesn't exist on the Hub"))
    with pytest.raises(InputError, match=r"^--source org/none: does not exist on the Hugging Face Hub$"):
        load_hub_dataset("org/none", option="--source")
    fake_load_dataset(monkeypatch, ValueError("Unknown split \"dev\". Should be one of ['test'].\nmore"))
    with pytest.raises(InputError, match=r"^org/data: config 'fr' split 'dev': Unknown split \"dev\"\. Should be one of \['test'\]\.$"):
        load_hub_dataset("org/data", "fr", "dev")


def test_hub_loader_network_failure_says_what_to_do(monkeypatch):
    fake_load_dataset(monkeypatch, ConnectionError("Couldn't reach 'cais/mmlu' on the Hub (OfflineModeIsEnabled)"))
    with pytest.raises(XbenchError, match=r"^could not load cais/mmlu \(all\) from the Hugging Face Hub \(ConnectionError\); pass --source PATH$") as raised:
        load_hub_dataset("cais/mmlu", "all", "test", remedy="pass --source PATH")
    assert not isinstance(raised.value, InputError)
    with pytest.raises(XbenchError, match=r"^--source org/q: could not load org/q from the Hugging Face Hub \(ConnectionError\); check"):
        load_hub_dataset("org/q", option="--source")


@pytest.mark.parametrize(
    ("family", "source", "message"),
    [
        ("mmlu_mixup", None, r"could not load cais/mmlu \(all\) from the Hugging Face Hub \(ConnectionError\); check the network or pass --source PATH"),
        ("tofu", None, r"could not load locuslab/TOFU \(forget10_perturbed\) from the Hugging Face Hub \(ConnectionError\); pass --source FILE"),
        ("wikitext_mixed", None, r"could not load Salesforce/wikitext \(wikitext-2-raw-v1\) from the Hugging Face Hub \(ConnectionError\); pass --source PATH"),
        ("hp_quiz", "org/quiz", r"--source org/quiz: could not load org/quiz from the Hugging Face Hub \(ConnectionError\); there is no local file"),
    ],
)
def test_families_load_the_hub_through_the_one_loader(monkeypatch, tmp_path, family, source, message):
    calls = fake_load_dataset(monkeypatch, ConnectionError("offline"))
    with pytest.raises(XbenchError, match=message):
        xbench.build(family, out=tmp_path / "out", source=source, translator="pseudo", langs="fr", cache=tmp_path / "c.sqlite")
    assert calls and not (tmp_path / "out").exists()
