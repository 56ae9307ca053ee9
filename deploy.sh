#!/usr/bin/env bash
# Build and push the worker image, then create or update its RunPod template and serverless endpoint
# through RunPod's REST API v2. Idempotent: a second run finds both by name and updates them in place.
# The request bodies come from deploy_bodies.py; tests/test_ship.py validates them against RunPod's
# published OpenAPI schema (tests/runpod-openapi/).
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")"

API_URL=${RUNPOD_API_URL:-https://api.runpod.io/v2}
NAME=${DEPLOY_NAME:-pet-merch-worker}
IMAGE=${IMAGE:-}
GPU_POOLS=${GPU_POOLS:-ADA_80_PRO,AMPERE_80}
WORKERS_MIN=${WORKERS_MIN:-0}
WORKERS_MAX=${WORKERS_MAX:-3}
IDLE_TIMEOUT=${IDLE_TIMEOUT:-5}
FLASHBOOT=${FLASHBOOT:-FLASHBOOT}
EXECUTION_TIMEOUT_MS=${EXECUTION_TIMEOUT_MS:-}
MIN_CUDA_VERSION=${MIN_CUDA_VERSION:-}
DISK_GB=${DISK_GB:-60}
NETWORK_VOLUME=${NETWORK_VOLUME:-}
ACCEPT_MODEL_LICENSE=0
DRY_RUN=0
SKIP_BUILD=0
ENV_PAIRS=()
SECRET_PAIRS=()

usage() {
  cat <<'USAGE'
Usage: ./deploy.sh [options]

Builds and pushes the image for linux/amd64 (docker when a daemon answers, else buildah), then creates or
updates the RunPod serverless template and endpoint named --name through RunPod's REST API (v2).

Options (each also readable from the environment variable in brackets):
  --image REF              image to build, push and deploy (IMAGE; required)
  --name NAME              template and endpoint name (DEPLOY_NAME; default pet-merch-worker)
  --gpu-pools P1,P2        serverless GPU pools (GPU_POOLS; default ADA_80_PRO,AMPERE_80). FLUX.1 in bf16
                           needs about 35 GB: the 48 GB pools ADA_48_PRO and AMPERE_48 fit too, slower
  --workers-min N          always-on workers (WORKERS_MIN; default 0)
  --workers-max N          most workers (WORKERS_MAX; default 3)
  --idle-timeout S         seconds an idle worker stays up, 1..3600 (IDLE_TIMEOUT; default 5)
  --flashboot MODE         OFF, FLASHBOOT or PRIORITY_FLASHBOOT (FLASHBOOT; default FLASHBOOT)
  --execution-timeout MS   RunPod's job execution timeout (EXECUTION_TIMEOUT_MS). Default: derived from the
                           worker's own deadline, JOB_TIMEOUT_S + WEBHOOK_MAX_SECONDS + WEBHOOK_TIMEOUT_S
                           + 120 s (790000 ms with the worker's defaults), so the worker ends a slow job
                           with `timeout` and sends design.failed before RunPod kills it. A value that does
                           not leave the worker that time is refused
  --min-cuda X.Y           lowest CUDA version a host's driver must run (MIN_CUDA_VERSION; default: the
                           Dockerfile's CUDA base, 12.8)
  --disk GB                container disk (DISK_GB; default 60)
  --network-volume ID      attach a network volume at /runpod-volume (NETWORK_VOLUME): the model for
                           MODEL_SOURCE=volume images, and the compile cache. A re-run without it detaches it
  --env KEY=VALUE          a plain environment variable for the worker (repeatable; overrides the defaults)
  --secret KEY=NAME        KEY set from the RunPod secret NAME, by reference: {{ RUNPOD_SECRET_NAME }} (repeatable)
  --accept-model-license   required when MODEL_ID is not FLUX.1-schnell (see Model licences)
  --skip-build             deploy IMAGE as it is, without building or pushing
  --dry-run                print every command and API request, send nothing (works offline)
  -h, --help               this text

The template's worker settings (each overridable with --env):
  COMPILE=1 ATTENTION_BACKEND=_native_cudnn WARMUP_SIZES=1024x1024   the recommended production setting:
                           the fastest measured one that keeps outputs. QUANTIZE=fp8 is opt-in, with
                           COMPILE=1 only (eager fp8 is slower than bf16)
  COMPILE_CACHE_DIR=/runpod-volume/compile-cache                     with --network-volume only. Without a
                           volume the compile cache lives in the container, and every fresh worker compiles
                           at cold start (minutes) before its first job
  MODEL_LICENSE            the licence of MODEL_ID, recorded on the template (the worker ignores it)

Model licences (a shop sells what the model makes):
  black-forest-labs/FLUX.1-schnell       Apache-2.0: outputs may be sold. The image's default
  black-forest-labs/FLUX.1-dev           FLUX.1 [dev] Non-Commercial License: selling outputs needs a
  black-forest-labs/FLUX.1-Kontext-dev   commercial licence from Black Forest Labs
  --env MODEL_ID=... names the model; the build then bakes it (a gated one needs HF_TOKEN, passed as a build
  secret). deploy.sh refuses any MODEL_ID but schnell without --accept-model-license. With --skip-build it
  cannot see what the image baked: name the image's model with --env MODEL_ID.

Environment:
  RUNPOD_API_KEY           API key (required unless --dry-run); sent as a bearer token, never printed
  RUNPOD_API_URL           API base (default https://api.runpod.io/v2)
  HF_TOKEN                 Hugging Face token for a gated MODEL_ID, a build secret (never in a layer)

Example:
  RUNPOD_API_KEY=... ./deploy.sh --image ghcr.io/acme/pet-merch-worker:1.0 --network-volume vol123 \
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
    --min-cuda) MIN_CUDA_VERSION=${2:?}; shift 2 ;;
    --disk) DISK_GB=${2:?}; shift 2 ;;
    --network-volume) NETWORK_VOLUME=${2:?}; shift 2 ;;
    --env) ENV_PAIRS+=("${2:?}"); shift 2 ;;
    --secret) SECRET_PAIRS+=("${2:?}"); shift 2 ;;
    --accept-model-license) ACCEPT_MODEL_LICENSE=1; shift ;;
    --skip-build) SKIP_BUILD=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

[ -n "$IMAGE" ] || die "--image (or IMAGE) is required"
[ "$DRY_RUN" = 1 ] || [ -n "${RUNPOD_API_KEY:-}" ] || die "RUNPOD_API_KEY is not set"

ENV_LIST=$(printf '%s\n' ${ENV_PAIRS[@]+"${ENV_PAIRS[@]}"})
SECRET_LIST=$(printf '%s\n' ${SECRET_PAIRS[@]+"${SECRET_PAIRS[@]}"})
export NAME IMAGE GPU_POOLS WORKERS_MIN WORKERS_MAX IDLE_TIMEOUT FLASHBOOT EXECUTION_TIMEOUT_MS MIN_CUDA_VERSION \
  DISK_GB NETWORK_VOLUME ACCEPT_MODEL_LICENSE ENV_LIST SECRET_LIST
bodies() { python3 deploy_bodies.py "$@"; }
bodies check  # refuses bad settings (exit 2) before anything is built or sent; prints the plan

run() {
  echo "+ $*"
  [ "$DRY_RUN" = 1 ] || "$@"
}

# One API call: prints the request (never the key) and, unless --dry-run, sends it and prints the answer.
# A refused request stops the deploy with RunPod's own error.
api() {
  local method=$1 path=$2 body=${3:-} answer
  echo "> $method $API_URL$path" >&2
  [ -z "$body" ] || echo "$body" >&2
  [ "$DRY_RUN" = 1 ] && return 0
  local args=(--silent --show-error --fail-with-body --request "$method" --header "Content-Type: application/json"
              --header @- "$API_URL$path")
  [ -z "$body" ] || args+=(--data "$body")
  if ! answer=$(printf 'Authorization: Bearer %s\n' "$RUNPOD_API_KEY" | curl "${args[@]}"); then
    echo "deploy.sh: RunPod refused $method $path: $answer" >&2
    exit 1
  fi
  printf '%s\n' "$answer"
}

# The id of the item called $NAME in a v2 list answer ({"templates": [...]} or {"endpoints": [...]}).
id_by_name() {
  python3 -c 'import json, sys
key, name = sys.argv[1], sys.argv[2]
items = json.load(sys.stdin).get(key, [])
print(next((item["id"] for item in items if item.get("name") == name), ""))' "$1" "$NAME"
}

new_id() { python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'; }

# 1. Build for the platform RunPod runs (an ARM laptop would otherwise build an arm64 image), and push.
if [ "$SKIP_BUILD" = 0 ]; then
  build_args=(--platform linux/amd64 --tag "$IMAGE")
  for pair in ${ENV_PAIRS[@]+"${ENV_PAIRS[@]}"}; do
    case "$pair" in MODEL_ID=*) build_args+=(--build-arg "$pair") ;; esac
  done
  [ -z "${HF_TOKEN:-}" ] || build_args+=(--secret "id=hf_token,env=HF_TOKEN")
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    run docker build "${build_args[@]}" .
    run docker push "$IMAGE"
  else
    run buildah build --isolation chroot "${build_args[@]}" .
    run buildah push "$IMAGE"
  fi
fi

# Update the item called $NAME under PATH (a v2 list answered as {LIST_KEY: [...]}) with UPDATE_BODY, else
# create it with CREATE_BODY. Prints its id. A dry run sends nothing: it prints the list request and both
# the create and the update, with a placeholder id.
upsert() {
  local path=$1 list_key=$2 create_body=$3 update_body=$4 id placeholder="<${2%s}-id>"
  if [ "$DRY_RUN" = 1 ]; then
    api GET "$path"
    echo "# when no ${list_key%s} is called $NAME:" >&2
    api POST "$path" "$create_body"
    echo "# when one is:" >&2
    api PATCH "$path/$placeholder" "$update_body"
    echo "$placeholder"
    return
  fi
  id=$(api GET "$path" | id_by_name "$list_key")
  if [ -n "$id" ]; then
    api PATCH "$path/$id" "$update_body" >/dev/null
  else
    id=$(api POST "$path" "$create_body" | new_id)
  fi
  echo "$id"
}

# 2. The template, then 3. the endpoint made from it.
template=$(bodies template)
template_id=$(upsert /templates templates "$template" "$template")
endpoint_id=$(upsert /serverless endpoints "$(bodies endpoint-create "$template_id")" \
  "$(bodies endpoint-update "$template_id")")

if [ "$DRY_RUN" = 1 ]; then
  echo "dry run: nothing was built, pushed or sent"
else
  echo "endpoint $NAME: $endpoint_id (template $template_id, image $IMAGE)"
  echo "run a job: POST https://api.runpod.ai/v2/$endpoint_id/run"
fi
