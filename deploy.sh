#!/usr/bin/env bash
# Build and push the worker image, then create or update its RunPod template and serverless endpoint.
# Idempotent: a second run finds the template and endpoint by name and updates them in place.
set -euo pipefail

API_URL=${RUNPOD_API_URL:-https://api.runpod.io/v2}
NAME=${DEPLOY_NAME:-pet-merch-worker}
IMAGE=${IMAGE:-}
GPU_POOLS=${GPU_POOLS:-ADA_80_PRO,AMPERE_80}
WORKERS_MIN=${WORKERS_MIN:-0}
WORKERS_MAX=${WORKERS_MAX:-3}
IDLE_TIMEOUT=${IDLE_TIMEOUT:-5}
FLASHBOOT=${FLASHBOOT:-ON}
EXECUTION_TIMEOUT_MS=${EXECUTION_TIMEOUT_MS:-600000}
DISK_GB=${DISK_GB:-60}
NETWORK_VOLUME=${NETWORK_VOLUME:-}
DRY_RUN=0
SKIP_BUILD=0
ENV_PAIRS=()
SECRET_PAIRS=()

usage() {
  cat <<'USAGE'
Usage: ./deploy.sh [options]

Builds and pushes the image (docker when a daemon answers, else buildah), then creates or updates the
RunPod serverless template and endpoint named --name through RunPod's REST API (v2).

Options (each also readable from the environment variable in brackets):
  --image REF              image to build, push and deploy (IMAGE; required)
  --name NAME              template and endpoint name (DEPLOY_NAME; default pet-merch-worker)
  --gpu-pools P1,P2        serverless GPU pools in order of preference (GPU_POOLS; default ADA_80_PRO,AMPERE_80)
  --workers-min N          always-on workers (WORKERS_MIN; default 0)
  --workers-max N          most workers (WORKERS_MAX; default 3)
  --idle-timeout S         seconds an idle worker stays up (IDLE_TIMEOUT; default 5)
  --flashboot ON|OFF       FlashBoot (FLASHBOOT; default ON)
  --execution-timeout MS   job execution timeout in ms (EXECUTION_TIMEOUT_MS; default 600000)
  --disk GB                container disk (DISK_GB; default 60)
  --network-volume ID      attach a network volume, for MODEL_SOURCE=volume images (NETWORK_VOLUME)
  --env KEY=VALUE          a plain environment variable for the worker (repeatable)
  --secret KEY=NAME        KEY set from the RunPod secret NAME, by reference: {{ RUNPOD_SECRET_NAME }} (repeatable)
  --skip-build             deploy IMAGE as it is, without building or pushing
  --dry-run                print every command and API request, send nothing (works offline)
  -h, --help               this text

Environment:
  RUNPOD_API_KEY           API key (required unless --dry-run); sent as a bearer token, never printed
  RUNPOD_API_URL           API base (default https://api.runpod.io/v2)

Example:
  RUNPOD_API_KEY=... ./deploy.sh --image ghcr.io/acme/pet-merch-worker:1.0 \
    --secret WEBHOOK_SECRET=webhook_secret --secret BUCKET_SECRET_ACCESS_KEY=bucket_secret \
    --env S3_BUCKET=designs --env WEBHOOK_URL=https://shop.example.com/api/design-webhook
USAGE
}

die() { echo "deploy.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --image) IMAGE=${2:?}; shift 2 ;;
    --name) NAME=${2:?}; shift 2 ;;
    --gpu-pools) GPU_POOLS=${2:?}; shift 2 ;;
    --workers-min) WORKERS_MIN=${2:?}; shift 2 ;;
    --workers-max) WORKERS_MAX=${2:?}; shift 2 ;;
    --idle-timeout) IDLE_TIMEOUT=${2:?}; shift 2 ;;
    --flashboot) FLASHBOOT=${2:?}; shift 2 ;;
    --execution-timeout) EXECUTION_TIMEOUT_MS=${2:?}; shift 2 ;;
    --disk) DISK_GB=${2:?}; shift 2 ;;
    --network-volume) NETWORK_VOLUME=${2:?}; shift 2 ;;
    --env) ENV_PAIRS+=("${2:?}"); shift 2 ;;
    --secret) SECRET_PAIRS+=("${2:?}"); shift 2 ;;
    --skip-build) SKIP_BUILD=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

[ -n "$IMAGE" ] || die "--image (or IMAGE) is required"
[ "$DRY_RUN" = 1 ] || [ -n "${RUNPOD_API_KEY:-}" ] || die "RUNPOD_API_KEY is not set"
case "$FLASHBOOT" in ON|OFF) ;; *) die "--flashboot takes ON or OFF" ;; esac
for number in "$WORKERS_MIN" "$WORKERS_MAX" "$IDLE_TIMEOUT" "$EXECUTION_TIMEOUT_MS" "$DISK_GB"; do
  [[ "$number" =~ ^[0-9]+$ ]] || die "expected a whole number, got '$number'"
done
[ "$WORKERS_MIN" -le "$WORKERS_MAX" ] || die "--workers-min is larger than --workers-max"

run() {
  echo "+ $*"
  [ "$DRY_RUN" = 1 ] || "$@"
}

# One API call: prints the request (never the key) and, unless --dry-run, sends it and prints the answer.
api() {
  local method=$1 path=$2 body=${3:-}
  echo "> $method $API_URL$path" >&2
  [ -z "$body" ] || echo "$body" >&2
  [ "$DRY_RUN" = 1 ] && return 0
  local args=(--silent --show-error --fail-with-body --request "$method" --header "Content-Type: application/json"
              --header @- "$API_URL$path")
  [ -z "$body" ] || args+=(--data "$body")
  printf 'Authorization: Bearer %s\n' "$RUNPOD_API_KEY" | curl "${args[@]}"
}

# The id of the item called $NAME in a v2 list answer ({"templates": [...]} or {"endpoints": [...]}).
id_by_name() {
  python3 -c 'import json, sys
key, name = sys.argv[1], sys.argv[2]
items = json.load(sys.stdin).get(key, [])
print(next((item["id"] for item in items if item.get("name") == name), ""))' "$1" "$NAME"
}

json_body() {  # builds a request body from KIND and the settings above, with python's json module
  python3 - "$@" <<'PY'
import json, os, sys
kind = sys.argv[1]
env = dict(pair.split("=", 1) for pair in os.environ.get("ENV_LIST", "").split("\n") if "=" in pair)
for pair in os.environ.get("SECRET_LIST", "").split("\n"):
    if "=" in pair:
        key, secret = pair.split("=", 1)
        env[key] = "{{ RUNPOD_SECRET_" + secret + " }}"
if kind == "template":
    body = {"name": os.environ["NAME"], "image": os.environ["IMAGE"], "disk": int(os.environ["DISK_GB"]),
            "env": env, "serverless": True}
else:
    body = {"name": os.environ["NAME"], "templateId": sys.argv[2], "type": "QUEUE",
            "gpu": {"pools": os.environ["GPU_POOLS"].split(","), "count": 1},
            "workers": {"min": int(os.environ["WORKERS_MIN"]), "max": int(os.environ["WORKERS_MAX"]),
                        "idleTimeout": int(os.environ["IDLE_TIMEOUT"])},
            "scaling": {"type": "QUEUE_DELAY", "queueDelay": 4},
            "timeout": int(os.environ["EXECUTION_TIMEOUT_MS"]), "flashboot": os.environ["FLASHBOOT"]}
    if os.environ.get("NETWORK_VOLUME"):
        body["networkVolumes"] = [os.environ["NETWORK_VOLUME"]]
print(json.dumps(body, sort_keys=True))
PY
}

ENV_LIST=$(printf '%s\n' ${ENV_PAIRS[@]+"${ENV_PAIRS[@]}"})
SECRET_LIST=$(printf '%s\n' ${SECRET_PAIRS[@]+"${SECRET_PAIRS[@]}"})
export NAME IMAGE GPU_POOLS WORKERS_MIN WORKERS_MAX IDLE_TIMEOUT FLASHBOOT EXECUTION_TIMEOUT_MS DISK_GB NETWORK_VOLUME ENV_LIST SECRET_LIST

# 1. Build and push.
if [ "$SKIP_BUILD" = 0 ]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    run docker build --tag "$IMAGE" .
    run docker push "$IMAGE"
  else
    run buildah build --isolation chroot --tag "$IMAGE" .
    run buildah push "$IMAGE"
  fi
fi

# Update the item called $NAME under PATH (a v2 list answered as {LIST_KEY: [...]}), else create it.
# Prints its id (a placeholder in a dry run, where nothing is created).
upsert() {
  local path=$1 list_key=$2 body=$3 id=""
  if [ "$DRY_RUN" = 0 ]; then
    id=$(api GET "$path" | id_by_name "$list_key")
  else
    api GET "$path"
  fi
  if [ -n "$id" ]; then
    api PATCH "$path/$id" "$body" >/dev/null
  elif [ "$DRY_RUN" = 1 ]; then
    api POST "$path" "$body"
    id="<new ${list_key%s} id>"
  else
    id=$(api POST "$path" "$body" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
  fi
  echo "$id"
}

# 2. The template, then 3. the endpoint bound to it.
template_id=$(upsert /templates templates "$(json_body template)")
endpoint_id=$(upsert /serverless endpoints "$(json_body endpoint "$template_id")")

if [ "$DRY_RUN" = 1 ]; then
  echo "dry run: nothing was built, pushed or sent"
else
  echo "endpoint $NAME: $endpoint_id (template $template_id, image $IMAGE)"
fi
