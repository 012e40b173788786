#!/usr/bin/env bash
# The 8-agent morning, end to end: a real 2,000-file git repo, a headless daemon on a
# temp data dir and a free port, eight stand-in agents, and the conversation a user has
# with capcom while they work. Prints a transcript: each brief and capcom's answer, what
# was said (with seconds since start), the merge-all question and its outcome, and main's
# history; then checks that the repo's check passes on every first-parent commit of main.
#
#   scripts/morning.sh            (uses target/debug/capcom; build it first: cargo build)
#   CAPCOM_BIN=path scripts/morning.sh
#
# Briefs reach capcom only as `capcom brief` arguments, never through a shell string.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${CAPCOM_BIN:-$root/target/debug/capcom}
[ -x "$bin" ] || { echo "no capcom binary at $bin: run cargo build first" >&2; exit 2; }
command -v jq >/dev/null || { echo "morning.sh needs jq" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/capcom-morning.XXXXXX")
repo=$tmp/repo data=$tmp/data config=$tmp/config.toml agents=$tmp/agents log=$tmp/daemon.log
daemon_pid=
cleanup() {
    local rc=$?
    set +e
    [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
    if [ -n "${KEEP:-}" ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
    exit "$rc"
}
trap cleanup EXIT

start=$(date +%s.%N)
since() { printf '%5.1f' "$(echo "$(date +%s.%N) - $start" | bc)"; }
say() { printf '%s\n' "$*"; }
section() { printf '\n== %s ==\n' "$*"; }

# --- The repo: components/, src/, docs/, and a check that fails on the word BROKEN --------
section "repo"
mkdir -p "$repo"/components "$repo"/src/{api,db,util} "$repo"/docs/{guide,ref}
for i in $(seq -w 0 599); do printf 'export const c%s = () => "c%s";\n' "$i" "$i" > "$repo/components/c$i.js"; done
printf 'export const button = {\n  color: "grey",\n  size: "m",\n};\n' > "$repo/components/button.js"
printf 'export const card = {\n  shadow: "none",\n};\n' > "$repo/components/card.js"
for d in api db util; do for i in $(seq -w 0 299); do printf 'export function %s%s() { return %d; }\n' "$d" "$i" "$((10#$i))" > "$repo/src/$d/m$i.js"; done; done
printf 'export const theme = {\n  header: "blue",\n  footer: "grey",\n};\n' > "$repo/src/theme.js"
for i in $(seq -w 0 449); do printf '# Page %s\n\nThis page explains part %s.\n' "$i" "$i" > "$repo/docs/ref/p$i.md"; done
printf '# Guide\n\nTeh first steps.\n' > "$repo/docs/guide/intro.md"
cat > "$repo/check.sh" <<'EOF'
#!/bin/sh
# The build: fails when any source, component or doc says BROKEN.
if grep -rl BROKEN components src docs; then echo "check: the files above are broken" >&2; exit 1; fi
echo "check: $(find components src docs -type f | wc -l) files ok"
EOF
chmod +x "$repo/check.sh"
printf 'test:\n\t@./check.sh\n.PHONY: test\n' > "$repo/Makefile"
git -C "$repo" init -q -b main
git -C "$repo" add -A
git -C "$repo" -c user.name=you -c user.email=you@example.com commit -qm "initial: components, src, docs"
say "$(git -C "$repo" ls-files | wc -l) files in $repo; make test: $(cd "$repo" && make -s test)"

# --- Stand-in agents ------------------------------------------------------------------------
# Each runs in its task's worktree like `claude -p --output-format stream-json`: it does its
# work, commits, and prints the final `result` event (the shape of the stream's last line:
# https://docs.anthropic.com/en/docs/claude-code/sdk, "Output formats"; the same line the
# stand-ins in tests/common/scene.rs print).
mkdir -p "$agents"
DONE='{"type":"result","subtype":"success","is_error":false,"result":"done","session_id":"s-1"}'
agent() { # name seconds body...
    local name=$1 secs=$2; shift 2
    {
        printf '#!/bin/sh\nset -e\nsleep %s\n' "$secs"
        printf '%s\n' "$@"
        printf 'git -c user.name=%s -c user.email=%s@example.com add -A\n' "$name" "$name"
        printf 'git -c user.name=%s -c user.email=%s@example.com commit -qm "%s: $CAPCOM_TASK_ID"\n' "$name" "$name" "$name"
        printf "echo '%s'\n" "$DONE"
    } > "$agents/$name.sh"
    chmod +x "$agents/$name.sh"
    printf '[agents.%s]\nkind = "local"\npreset = "claude"\ncommand = ["%s", "{prompt_file}"]\n\n' "$name" "$agents/$name.sh"
}
{
    printf '[[repos]]\nname = "site"\npath = "%s"\nbase = "main"\n\n' "$repo"
    printf '[checks]\ntest = ["make", "test"]\n\n'
    printf '[dispatch]\nmax_parallel = 4\ngrace = "0s"\nconfirm_ttl = "120s"\noverlap = "queue"\n\n'
    agent alice 3 "sed -i 's/color: \"grey\"/color: \"teal\"/' components/button.js"
    agent bob 1 "sed -i 's/shadow: \"none\"/shadow: \"soft\"/' components/card.js"
    agent carol 1 "sed -i 's/header: \"blue\"/header: \"red\"/' src/theme.js"
    agent dave 1 "sed -i 's/header: \"blue\"/header: \"green\"/' src/theme.js"
    agent erin 1 "sed -i 's/return 7;/return BROKEN;/' src/util/m007.js"
    agent frank 1 "sed -i 's/Page 003/Page three/' docs/ref/p003.md" "sed -i 's/\"grey\"/\"black\"/' src/theme.js"
    agent gina 1 "sed -i 's/Teh/The/' docs/guide/intro.md"
    agent hank 1 "sed -i 's/return 12;/return 12 + 0;/' src/api/m012.js"
} > "$config"

cap() { "$bin" --config "$config" --data-dir "$data" "$@"; }

# --- The daemon -------------------------------------------------------------------------
CAPCOM_LOG=info CAPCOM__API__LISTEN=127.0.0.1:0 cap daemon --headless </dev/null >/dev/null 2>"$log" &
daemon_pid=$!
for _ in $(seq 600); do [ -s "$data/api.addr" ] && break; sleep 0.05; done
[ -s "$data/api.addr" ] || { echo "the daemon did not start:" >&2; cat "$log" >&2; exit 1; }
addr=$(cat "$data/api.addr") token=$(cat "$data/api.token")
api() { curl -sf -H "Authorization: Bearer $token" "http://$addr$1"; }
say "daemon on $addr, data in $data"

# --- The briefs -------------------------------------------------------------------------
section "briefs"
brief() { # words...: print the brief and capcom's answer
    printf '[%s] you: %s\n' "$(since)" "$*"
    local out; out=$(cap brief "$@" 2>&1) || true
    printf '[%s] capcom: %s\n' "$(since)" "$out" | sed '2,$s/^/        /'
}
# A user takes a second or two to say each brief; the pause also lets each task take its
# lease before the next brief is answered.
pause() { sleep 1; }
brief "have alice restyle the button, only the components folder, tests must pass"
pause
brief "have bob give the card a soft shadow, only the components folder, tests must pass"
pause
brief "have carol make the header red in src/theme.js, tests must pass"
pause
brief "have dave make the header green in src/theme.js, tests must pass"
pause
brief "have erin tidy up src/util/m007.js, only the src/util folder, tests must pass"
pause
brief "have frank fix the heading of docs/ref/p003.md, only the docs/ref folder, tests must pass"
pause
brief "have gina fix the typo in docs/guide/intro.md, only the docs/guide folder, tests must pass"
pause
brief "have hank tidy up src/api/m012.js, only the src/api folder, tests must pass"
pause

tasks() { api "/v1/tasks?all=true"; }
id_of() { tasks | jq -r --arg a "$1" '[.[] | select(.agent == $a)][0].id'; }
state_of() { tasks | jq -r --argjson i "$1" '.[] | select(.id == $i) | .state'; }
carol=$(id_of carol) dave=$(id_of dave)

# dave waits behind carol (both change src/theme.js); the user starts him anyway, knowing
# the two will collide, to see which header colour wins.
for _ in $(seq 600); do [ "$(state_of "$carol")" = running ] || [ "$(state_of "$carol")" = ready ] && break; sleep 0.1; done
brief "run task $dave anyway"

# --- Settle -------------------------------------------------------------------------------
settled() { tasks | jq -e '[.[] | select(.state == "running" or .state == "checking" or (.state == "queued" and ((.reason // "") | contains("overlaps") | not)))] | length == 0' >/dev/null; }
for _ in $(seq 1200); do settled && break; sleep 0.1; done
section "settled at $(since) s"
tasks | jq -r '.[] | "task \(.id) \(.agent // "-"): \(.state)\(if .reason then " (\(.reason))" else "" end)"'
brief "what's finished?"

# --- Merge all ready, asked about while the train runs ------------------------------------
section "merge all ready"
brief "merge all ready"
printf '[%s] you: confirm\n' "$(since)"
cap brief confirm > "$tmp/confirm.out" 2>&1 &
confirm_pid=$!
sleep 1
brief "what's finished?"
wait "$confirm_pid" || true
printf '[%s] capcom (the confirm): %s\n' "$(since)" "$(cat "$tmp/confirm.out")"

# bob waited behind alice's lease; with alice merged he runs now. Merge him when ready.
bob=$(id_of bob)
for _ in $(seq 1200); do case $(state_of "$bob") in ready|needs_attention|failed) break ;; esac; sleep 0.1; done
brief "merge task $bob"
brief "confirm"

# --- What was said ------------------------------------------------------------------------
section "what capcom said (headless: spoken words go to the log), seconds since start"
grep -E 'say=|notice' "$log" | while IFS= read -r line; do
    ts=$(printf '%s' "$line" | grep -oE '^[0-9T:.-]+Z' || true)
    [ -n "$ts" ] && ts=$(printf '%.1f' "$(echo "$(date -u -d "$ts" +%s.%N) - $start" | bc)")
    text=$(printf '%s' "$line" | sed -E 's/.*say=("?)(.*)/\2/; s/"? *$//')
    if [ -n "$ts" ]; then printf '[%5s] %s\n' "$ts" "$text"; else printf '%s\n' "$text"; fi
done

# --- Who waited for what -----------------------------------------------------------------
section "who waited for what (task events), seconds since start"
for id in $(tasks | jq -r '.[].id'); do
    api "/v1/tasks/$id" | jq -r '.events[] | select(.kind == "waiting" or .kind == "anyway" or .kind == "conflict" or (.kind == "state" and (.message | test("→ (running|ready|needs_attention|merged)")))) | "\(.at)\t\(.task_id)\t\(.kind)\t\(.message)"'
done | sort | while IFS=$'\t' read -r at id kind msg; do
    printf '[%5.1f] task %s %s: %s\n' "$(echo "$(date -u -d "$at" +%s.%N) - $start" | bc)" "$id" "$kind" "$msg"
done

# --- The outcome -------------------------------------------------------------------------
section "tasks at the end"
tasks | jq -r '.[] | "task \(.id) \(.agent // "-") \(.state): \(.title)\(if .reason then "\n    why: \(.reason)" else "" end)"'
section "capcom status --filter all"
cap status --filter all || true
section "git log --oneline --first-parent main"
git -C "$repo" log --oneline --first-parent main

section "make test on every first-parent commit of main"
bad=0
check=$tmp/check
for c in $(git -C "$repo" rev-list --first-parent main); do
    rm -rf "$check"; mkdir -p "$check"
    git -C "$repo" archive "$c" | tar -x -C "$check"
    if (cd "$check" && make -s test >/dev/null 2>&1); then say "$(git -C "$repo" log -1 --format='%h %s' "$c"): green"
    else say "$(git -C "$repo" log -1 --format='%h %s' "$c"): RED"; bad=1; fi
done
say "done in $(since) s"
exit $bad
