"""Loaders of the evaluation items: both ESConv layouts and the ED CSV, on small fixtures."""

from __future__ import annotations

import json

import pytest

from eval.datasets import load_ed, load_esconv, load_items, sample_items, split_file

THU = [
    {"emotion_type": "anxiety", "problem_type": "job crisis", "dialog": [
        {"speaker": "sys", "text": "Hi there, how can I help?", "strategy": "Question"},
        {"speaker": "usr", "text": "I might lose my job."},
        {"speaker": "sys", "text": "That sounds scary.", "strategy": "Reflection of feelings"},
        {"speaker": "sys", "text": "What happened?", "strategy": "Question"},
        {"speaker": "usr", "text": "My boss is unhappy."},
        {"speaker": "sys", "text": "Maybe talk to him?", "strategy": "Providing Suggestions"},
    ]},
]

ORIGINAL = [
    {"emotion_type": "depression", "problem_type": "ongoing depression", "dialog": [
        {"speaker": "seeker", "annotation": {}, "content": "Hey there\n"},
        {"speaker": "supporter", "annotation": {"strategy": "Questions"}, "content": "How are you?"},
        {"speaker": "speaker", "annotation": {"feedback": "4"}, "content": "Not great.\n"},
        {"speaker": "listener", "annotation": {"strategy": "Direct Guidance"}, "content": "Take a walk."},
        {"speaker": "seeker", "annotation": {}, "content": "ok"},
        {"speaker": "supporter", "annotation": {"strategy": "Other"}, "content": "Take care!"},
    ]},
]

ED_CSV = (
    "conv_id,utterance_idx,context,prompt,speaker_idx,utterance,selfeval,tags\n"
    "hit:1_conv:2,1,afraid,My car caught fire_comma_ really.,1,My car caught fire_comma_ on the highway!,,\n"
    "hit:1_conv:2,2,afraid,My car caught fire_comma_ really.,2,Oh no_comma_ are you OK?,,\n"
    "hit:1_conv:2,3,afraid,My car caught fire_comma_ really.,1,\"I got out, luckily.\",,\n"
    "hit:1_conv:2,4,afraid,My car caught fire_comma_ really.,2,Thank goodness.,,,extra|candidates\n"
    "hit:3_conv:6,1,proud,My son graduated.,1,My son graduated!,5|5|5_2|2|5,\n"
    "hit:3_conv:6,2,proud,My son graduated.,2,Congratulations!,,\n"
)


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_esconv_jsonl_items_answer_user_turns(tmp_path):
    items, stats = load_esconv(write_jsonl(tmp_path / "valid.txt", THU), split="valid")
    # turn 0 opens the dialogue and turn 3 follows a supporter turn: both left out
    assert [i.turn_index for i in items] == [2, 5]
    assert stats.skipped_no_user_turn == 2 and stats.reply_turns == 2 and stats.dialogues == 1
    first = items[0]
    assert first.reference == "That sounds scary."
    assert first.strategy == "Reflection of feelings" and first.emotion == "anxiety"
    assert [u.role for u in first.dialogue] == ["assistant", "user"]
    assert first.dialogue[-1].text == "I might lose my job."
    assert first.item_id == "esconv:valid:0:2"
    assert items[1].position == 1.0
    assert [u.role for u in items[1].dialogue] == ["assistant", "user", "assistant", "assistant", "user"]


def test_esconv_original_layout_normalises_strategies(tmp_path):
    path = tmp_path / "ESConv.json"
    path.write_text(json.dumps(ORIGINAL, indent=1), encoding="utf-8")
    items, _ = load_esconv(path)
    assert [i.strategy for i in items] == ["Question", "Providing Suggestions", "Others"]
    assert items[0].dialogue[0].text == "Hey there"  # trailing newline of the original release gone
    assert items[1].dialogue[-1].role == "user"


def test_esconv_errors_name_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text(json.dumps(THU[0]) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.txt:2"):
        load_esconv(path)
    bad_speaker = {"dialog": [{"speaker": "robot", "text": "hi"}]}
    path2 = write_jsonl(tmp_path / "bad2.txt", [THU[0], bad_speaker])
    with pytest.raises(ValueError, match=r"bad2\.txt:2 turn 0: unknown speaker 'robot'"):
        load_esconv(path2)
    items, stats = load_esconv(path2, skip_malformed=True)
    assert len(items) == 2 and len(stats.malformed) == 1
    bad_strategy = {"dialog": [{"speaker": "usr", "text": "hi"}, {"speaker": "sys", "text": "x", "strategy": "Hugging"}]}
    with pytest.raises(ValueError, match=r"bad3\.txt:1 turn 1: unknown strategy 'Hugging'"):
        load_esconv(write_jsonl(tmp_path / "bad3.txt", [bad_strategy]))
    no_dialog, no_text = {"emotion_type": "anxiety"}, {"dialog": [{"speaker": "usr"}]}
    path4 = write_jsonl(tmp_path / "bad4.txt", [no_dialog, THU[0], no_text])
    with pytest.raises(ValueError, match=r"bad4\.txt:1: no 'dialog' list"):
        load_esconv(path4)
    items, stats = load_esconv(path4, skip_malformed=True)
    assert len(items) == 2 and stats.dialogues == 1
    assert stats.malformed[1].endswith("bad4.txt:3 turn 0: no 'text' (or 'content') string")


def test_ed_csv_listener_items(tmp_path):
    path = tmp_path / "valid.csv"
    path.write_text(ED_CSV, encoding="utf-8")
    items, stats = load_ed(path, split="valid")
    assert [i.item_id for i in items] == ["ed:valid:hit:1_conv:2:1", "ed:valid:hit:1_conv:2:3",
                                          "ed:valid:hit:3_conv:6:1"]
    assert items[0].reference == "Oh no, are you OK?"
    assert items[0].dialogue[0].text == "My car caught fire, on the highway!"
    assert items[1].dialogue[-1].text == "I got out, luckily."  # a quoted field with a real comma
    assert items[1].reference == "Thank goodness."            # extra trailing fields ignored
    assert {i.emotion for i in items} == {"afraid", "proud"}
    assert [u.role for u in items[1].dialogue] == ["user", "assistant", "user"]
    assert stats.dialogues == 2


def test_ed_malformed_rows(tmp_path):
    path = tmp_path / "broken.csv"
    path.write_text(ED_CSV + "hit:9_conv:9,1,afraid\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.csv:8: expected at least 6 comma-separated fields"):
        load_ed(path)
    items, stats = load_ed(path, skip_malformed=True)
    assert len(items) == 3 and len(stats.malformed) == 1
    path.write_text(ED_CSV.replace("hit:3_conv:6,2,proud", "hit:3_conv:6,two,proud"), encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.csv:7: utterance_idx/speaker_idx are not integers"):
        load_ed(path)
    path.write_text(ED_CSV.replace(",proud,My son graduated.,2,", ",bored,My son graduated.,2,"), encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.csv:7: unknown emotion 'bored'"):
        load_ed(path)
    path.write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.csv:1: header lacks"):
        load_ed(path)


def test_sample_is_seeded_and_in_file_order(tmp_path):
    items, _ = load_ed(_ed(tmp_path))
    a, b = sample_items(items, 2, seed=1), sample_items(items, 2, seed=1)
    assert a == b and len(a) == 2
    assert [items.index(x) for x in a] == sorted(items.index(x) for x in a)
    assert sample_items(items, None, seed=1) == items


def _ed(tmp_path):
    path = tmp_path / "v.csv"
    path.write_text(ED_CSV, encoding="utf-8")
    return path


def test_split_file_names_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="test"):
        split_file(tmp_path, "esconv", "test")
    with pytest.raises(ValueError):
        split_file(tmp_path, "meld", "valid")
    (tmp_path / "esconv").mkdir()
    write_jsonl(tmp_path / "esconv" / "test.txt", THU)
    items, _ = load_items("esconv", split_file(tmp_path, "esconv", "test"), split="test")
    assert items[0].item_id.startswith("esconv:test:")


@pytest.mark.data
def test_real_files_load(data_dir):
    esconv, stats = load_items("esconv", split_file(data_dir, "esconv", "valid"))
    assert len(esconv) == stats.reply_turns > 2000 and stats.dialogues == 195
    failed, _ = load_items("esconv", data_dir / "esconv" / "FailedESConv.json")
    assert len(failed) > 1000
    ed, stats = load_items("ed", split_file(data_dir, "ed", "valid"))
    assert stats.dialogues == 2770 and len(ed) > 5000 and not stats.malformed
