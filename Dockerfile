# syntax=docker/dockerfile:1.7
# The worker's image: CUDA runtime, the pinned Python packages, and FLUX.1 baked in (or on a network volume).
#
#   docker build -t pet-merch-worker .                                   # bakes black-forest-labs/FLUX.1-schnell
#   docker build --secret id=hf_token,env=HF_TOKEN --build-arg MODEL_ID=black-forest-labs/FLUX.1-dev .
#   docker build --build-arg MODEL_SOURCE=volume .                       # model on /runpod-volume at run time
#   docker build --build-arg SAFETY_MODEL=Falconsai/nsfw_image_detection .  # also bakes an image safety classifier
#
# BASE_IMAGE is a CUDA 12.8 runtime to match the cu128 build of torch that TORCH_INDEX_URL serves.
ARG BASE_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
FROM ${BASE_IMAGE}

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
ARG INSTALL_GPU_EXTRAS=1
# bake: download MODEL_ID into the image; volume: read it from the RunPod network volume; none: set MODEL_ID at run time
ARG MODEL_SOURCE=bake
ARG MODEL_ID=black-forest-labs/FLUX.1-schnell
ARG MODEL_REVISION=

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# Python 3.11+ with venv; a base that already has it (a CI stand-in) skips apt entirely.
# hadolint ignore=DL3008
RUN if ! python3 -c 'import sys, venv; assert sys.version_info >= (3, 11)' 2>/dev/null; then \
        apt-get update && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && python3 -m venv "$VIRTUAL_ENV"

WORKDIR /app

# Dependencies first, in their own layers, so a code change does not reinstall them.
# torch comes from the index that matches the base's CUDA; everything else from requirements.txt.
COPY requirements.txt requirements-gpu.txt ./
# torchvision (GPU extras only: spandrel, timm) must come from that index too, or it will not load beside torch.
RUN pip install --index-url "$TORCH_INDEX_URL" --extra-index-url https://pypi.org/simple "torch==$(grep -Po '^torch==\K.*' requirements.txt)" \
    && if [ "$INSTALL_GPU_EXTRAS" = "1" ]; then \
        pip install --index-url "$TORCH_INDEX_URL" --extra-index-url https://pypi.org/simple \
            "torchvision==$(grep -Po '^torchvision==\K.*' requirements-gpu.txt)"; fi \
    && pip install -r requirements.txt \
    && if [ "$INSTALL_GPU_EXTRAS" = "1" ]; then pip install -r requirements-gpu.txt; fi

COPY models/ models/
ENV HF_HOME=/models/hf
# bake: the token is a build secret, there for this one RUN and never in an ENV or a layer.
# volume: HF_HOME points at the network volume's Hugging Face cache, mounted when the worker starts.
RUN --mount=type=secret,id=hf_token,required=false \
    case "$MODEL_SOURCE" in \
        bake) HF_TOKEN="$(cat /run/secrets/hf_token 2>/dev/null || true)" \
              python models/download.py "$MODEL_ID" ${MODEL_REVISION:+--revision "$MODEL_REVISION"} ;; \
        volume) mkdir -p /models && ln -s /runpod-volume/huggingface-cache /models/hf ;; \
        none) ;; \
        *) echo "MODEL_SOURCE must be bake, volume or none" >&2; exit 1 ;; \
    esac

# Content safety classifiers (README, "Content safety"): none unless named, each baked into its own folder,
# which the ENV below points the worker at. Declared here, so naming one does not redo the layers above.
ARG SAFETY_MODEL=
ARG PROMPT_SAFETY_MODEL=
RUN if [ -n "$SAFETY_MODEL" ]; then \
        HF_HOME=/tmp/hf python models/download.py "$SAFETY_MODEL" --classifier-dir /models/safety/image; \
    fi \
    && if [ -n "$PROMPT_SAFETY_MODEL" ]; then \
        HF_HOME=/tmp/hf python models/download.py "$PROMPT_SAFETY_MODEL" --classifier-dir /models/safety/prompt; \
    fi \
    && rm -rf /tmp/hf

COPY worker/ worker/
COPY mockups/ mockups/
COPY handler.py test_input.json ./

ENV MODEL_ID=${MODEL_ID} \
    MODEL_REVISION=${MODEL_REVISION} \
    SAFETY_MODEL=${SAFETY_MODEL:+/models/safety/image} \
    PROMPT_SAFETY_MODEL=${PROMPT_SAFETY_MODEL:+/models/safety/prompt} \
    HF_HUB_OFFLINE=1

CMD ["python", "-u", "handler.py"]
