"""Sequence-to-sequence translation of dates: the generated data, the encoder-decoders, greedy and beam decoding,
training to exact match with attention, and lab-translate."""

from __future__ import annotations

import datetime
import subprocess

import pytest
import torch

from lab.commands import translate as translate_command
from lab.data.dates import (BOS, EOS, FORMS, PAD, SOURCE_VOCAB, TARGET_VOCAB, DatesDataModule, decode, encode,
                            ordinal, write)
from lab.errors import LabError
from lab.models.translator import Translator, exact_match_by_length
from lab.nets.seq2seq import GRUSeq2Seq, TransformerSeq2Seq

# A training budget that takes the attention model past 0.99 exact match on held-out dates (~20 s on one thread).
BUDGET = ["data.train_size=10000", "trainer.max_epochs=1", "data.val_size=500", "data.test_size=1000"]
LONGEST = "24+"  # the length bucket of "Wednesday, September 27, 2000" and the like


def test_every_required_form_writes_the_same_date():
    date = datetime.date(1994, 3, 3)
    written = {write(date, form) for form in FORMS}
    assert {"3 March 1994", "March 3, 1994", "Thursday, March 3, 1994", "3rd of March, 1994", "03/03/1994",
            "3 Mar 1994", "1994/3/3", "march 3 1994"} <= written


@pytest.mark.parametrize("date, weekday", [((1969, 7, 20), "Sunday"), ((2000, 1, 1), "Saturday"),
                                           ((1000, 1, 1), "Wednesday"), ((2999, 12, 31), "Tuesday")])
def test_the_weekday_is_the_dates_own(date, weekday):
    assert write(datetime.date(*date), "weekday_month_day_year").startswith(weekday + ", ")


def test_ordinal_suffixes():
    assert [ordinal(d) for d in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31)] == \
        ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "31st"]


def test_held_out_dates_never_appear_in_training_and_the_seed_fixes_the_data():
    data = DatesDataModule(train_size=5000, val_size=300, test_size=300, seed=3)
    data.setup()
    train, val, test = (set(data.dates[name]) for name in ("train", "val", "test"))
    assert len(train) == 5000 and len(val) == len(test) == 300
    assert not train & (val | test) and not val & test
    years = {date.year for name in data.dates for date in data.dates[name]}
    assert min(years) >= 1000 and max(years) <= 2999
    sources, targets = data.texts["val"]
    assert targets == [date.isoformat() for date in data.dates["val"]]
    assert len({source for source in sources if "/" in source}) > 0 and len({s.split(",")[0] for s in sources}) > 20
    again = DatesDataModule(train_size=5000, val_size=300, test_size=300, seed=3)
    again.setup()
    assert again.texts == data.texts
    other = DatesDataModule(train_size=5000, val_size=300, test_size=300, seed=4)
    other.setup()
    assert other.texts["val"] != data.texts["val"]


def test_codec_round_trips_and_names_unknown_characters():
    tokens, lengths = encode(["1994-03-03", "0999-12-31"], TARGET_VOCAB, bos=True, eos=True)
    assert tokens[0, 0] == BOS and tokens[0, 11] == EOS and lengths.tolist() == [12, 12]
    assert [decode(row[1:], TARGET_VOCAB) for row in tokens.tolist()] == ["1994-03-03", "0999-12-31"]
    padded, lengths = encode(["1994/3/3", "3 March 1994"], SOURCE_VOCAB)
    assert lengths.tolist() == [8, 12] and padded[0, 8:].eq(PAD).all()
    with pytest.raises(LabError, match="characters '@' are not in the vocabulary"):
        encode(["3 March 1994 @"], SOURCE_VOCAB)


def _untrained(net_cls, seed: int = 0, **kwargs) -> Translator:
    torch.manual_seed(seed)
    net = net_cls(64, 16, **kwargs)
    module = Translator(net, 64, 16, optimizer=lambda params: torch.optim.Adam(params))
    module.set_vocab(SOURCE_VOCAB, TARGET_VOCAB)
    return module.eval()


@pytest.mark.parametrize("net_cls, kwargs", [(GRUSeq2Seq, {"attention": True}), (GRUSeq2Seq, {"attention": False}),
                                             (TransformerSeq2Seq, {})])
def test_one_step_at_a_time_gives_the_teacher_forced_logits(net_cls, kwargs):
    module = _untrained(net_cls, **kwargs)
    src, lengths = encode(["Thursday, March 3, 1994", "1994/3/3"], SOURCE_VOCAB)
    tgt, _ = encode(["1994-03-03", "1994-03-03"], TARGET_VOCAB, bos=True, eos=True)
    with torch.no_grad():
        forced, weights = module.net(src, lengths, tgt[:, :-1])
        state, stepped = module.net.start(src, lengths), []
        for t in range(tgt.shape[1] - 1):
            logits, state, _ = module.net.step(tgt[:, t], state)
            stepped.append(logits)
    torch.testing.assert_close(torch.stack(stepped, dim=1), forced, atol=1e-5, rtol=1e-5)
    if kwargs.get("attention", True):
        assert weights.shape == (2, 11, src.shape[1])
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, 11))
        assert weights[1, :, 8:].abs().max() == 0  # padding gets no attention
    else:
        assert weights is None


def test_the_transformer_decoder_cannot_see_later_outputs():
    module = _untrained(TransformerSeq2Seq)
    src, lengths = encode(["3 Mar 1994"], SOURCE_VOCAB)
    a, _ = encode(["1994-03-03"], TARGET_VOCAB, bos=True)
    b = a.clone()
    b[0, 6:] = a[0, 6:].flip(0)
    with torch.no_grad():
        first, second = module.net(src, lengths, a)[0], module.net(src, lengths, b)[0]
    torch.testing.assert_close(first[:, :6], second[:, :6])
    assert not torch.allclose(first[:, 6:], second[:, 6:])


@pytest.mark.parametrize("net_cls", [GRUSeq2Seq, TransformerSeq2Seq])
def test_beam_search_scores_at_least_greedy_and_its_scores_are_the_models(net_cls):
    module = _untrained(net_cls, seed=1)
    data = DatesDataModule(train_size=10, val_size=64, test_size=10, seed=0)
    data.setup()
    sources = data.texts["val"][0]
    greedy, greedy_scores = module.decode(sources, beam=1)
    beamed, beam_scores = module.decode(sources, beam=5)
    assert (beam_scores >= greedy_scores - 1e-4).all()
    assert (beam_scores > greedy_scores + 1e-3).sum() >= 5  # an untrained model is unsure: search finds better
    finished = [i for i, text in enumerate(beamed) if len(text) < module.hparams.max_output_len]  # ended by EOS
    assert len(finished) >= 32
    torch.testing.assert_close(module.score([sources[i] for i in finished], [beamed[i] for i in finished]),
                               beam_scores[finished], atol=1e-4, rtol=1e-4)


def test_exact_match_by_length_buckets():
    result = exact_match_by_length(["ab", "abc", "abcdef", "abcdefgh"], ["x", "y", "z", "w"], ["x", "n", "z", "n"],
                                   [0, 3, 6])
    assert result == {"0-2": (1.0, 1), "3-5": (0.0, 1), "6+": (0.5, 2)}


def test_translate_refuses_empty_text_and_a_beam_below_one():
    module = _untrained(GRUSeq2Seq)
    with pytest.raises(LabError, match="text 1 is empty"):
        module.translate(["3 Mar 1994", ""])
    with pytest.raises(LabError, match="beam must be >= 1"):
        module.translate(["3 Mar 1994"], beam=0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The attention model and the no-attention baseline, trained on the same seeded budget, and a classifier."""
    from lab.train import run_experiment

    from conftest import QUIET

    root = tmp_path_factory.mktemp("seq2seq")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runs = {name: run_experiment(QUIET + [f"experiment=seq2seq_{name}", *BUDGET], root / name)
                for name in ("attention", "noattention")}
        run_experiment(QUIET + ["experiment=xor_mlp", "trainer.max_epochs=1", "test=false"], root / "classifier")
    finally:
        torch.set_num_threads(before)
    runs["root"] = root
    return runs


def _ckpt(trained, name: str):
    return trained["root"] / name / "checkpoints" / "last.ckpt"


@pytest.mark.slow
def test_attention_translates_held_out_dates_and_beats_the_baseline_on_the_longest(trained):
    attention, baseline = trained["attention"], trained["noattention"]
    assert attention["test/exact_match"] >= 0.99
    assert attention["test/bleu"] >= 0.99 and attention["test/token_acc"] >= 0.99
    longest = f"test/exact_match_len{LONGEST}"
    assert attention[longest] >= 0.99
    assert baseline[longest] <= attention[longest] - 0.2, (baseline[longest], attention[longest])
    images = trained["root"] / "attention" / "images"
    assert (images / "test_attention.png").stat().st_size > 0 and list(images.glob("val_attention_epoch*.png"))
    assert not (trained["root"] / "noattention" / "images").exists()  # no attention, no heat map


@pytest.mark.slow
def test_beam_search_never_scores_below_greedy_on_a_trained_model(trained):
    from lab import load_module

    module, _ = load_module(_ckpt(trained, "noattention"))  # the imperfect model: its beams differ from greedy
    data = DatesDataModule(train_size=10, val_size=10, test_size=300, seed=0)
    data.setup()
    sources = data.texts["test"][0]
    greedy_outputs, greedy = module.decode(sources, beam=1)
    beam_outputs, beamed = module.decode(sources, beam=5)
    assert (beamed >= greedy - 1e-4).all() and (beamed > greedy + 1e-3).any()
    torch.testing.assert_close(module.score(sources, greedy_outputs), greedy, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(module.score(sources, beam_outputs), beamed, atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_lab_translate_prints_the_iso_date(trained, capsys):
    ckpt = _ckpt(trained, "attention")
    assert translate_command.main([f"ckpt={ckpt}", "text=3rd of March, 1994"]) == "1994-03-03"
    assert capsys.readouterr().out == "1994-03-03\n"
    done = subprocess.run(["lab-translate", f"ckpt={ckpt}", "text=Thursday, March 3, 1994", "beam=5"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "1994-03-03\n"


@pytest.mark.slow
def test_lab_translate_refuses_a_checkpoint_that_is_not_a_translator(trained, capsys):
    with pytest.raises(SystemExit) as exit_:
        translate_command.main([f"ckpt={_ckpt(trained, 'classifier')}", "text=3 Mar 1994"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "holds a Classifier, not a translator" in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as exit_:
        translate_command.main([f"ckpt={_ckpt(trained, 'attention')}", "text=3 Mär 1994"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.startswith("error: characters 'ä' are not in the vocabulary ")


def test_lab_translate_answers_help_and_refuses_a_missing_text(capsys):
    translate_command.main(["--help"])
    out = capsys.readouterr().out
    assert out.startswith("lab-translate") and "beam" in out and "ckpt=" in out
    with pytest.raises(SystemExit) as exit_:
        translate_command.main(["ckpt=x.ckpt"])
    assert exit_.value.code == 2 and capsys.readouterr().err == "error: missing argument(s): text=...\n"
    with pytest.raises(SystemExit) as exit_:
        translate_command.main(["ckpt=x.ckpt", "text=3 Mar 1994", "beam=two"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == "error: beam must be a whole number >= 1 (1 = greedy), got 'two'\n"
