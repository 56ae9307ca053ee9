"""The worker: cold start once, then one job at a time, top to bottom.

validate -> load input -> generate -> style -> mockups -> upload (encoded as they go) -> webhook
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field
from typing import Any

import torch
from standardwebhooks import Webhook

from worker.config import Settings
from worker.encode import to_host_pixels
from worker.errors import ErrorCode, WorkerError
from worker.faults import FaultPlan, corrupt_output, raise_fault
from worker.generate import GenerationPlan, generate_designs
from worker.inputs import load_photo
from worker.logs import bind_job, job_secrets
from worker.model import LoadedModel, load_model
from worker.outputs import ImageOutput, StoredOutput, store_outputs
from worker.products import BUILTIN_MOCKUPS_DIR, MockupRequest, MockupTemplate, composite_mockups, load_templates
from worker.progress import JobProgress, ProgressSink
from worker.safety import ContentScreen
from worker.schema import MAX_SEED, JobInput, parse_job_input
from worker.storage import S3Target, Storage, storage_for
from worker.styles import BUILTIN_STYLES_DIR, Style, load_styles
from worker.stylize import PRINT_DPI, FinishingModels, load_finishing_models, stylize
from worker.urls import Deadline, OutboundURL
from worker.webhooks import JobWebhook, default_webhook_target, job_target, webhook_signer, without_signed_urls

log = logging.getLogger(__name__)
REPORT_GRACE_S = 10.0  # how long past JOB_TIMEOUT_S the final webhook may still take


def plan_generation(request: JobInput, style: Style, model: LoadedModel, photo: Any) -> GenerationPlan:
    """Job values win over the style's overrides, which win over the model family's defaults."""
    seed = request.seed if request.seed is not None else secrets.randbelow(MAX_SEED + 1)
    instruction = style.render_instruction(plain_background=request.transparent_background)
    pipeline = model.pipeline_for(photo is not None, instruction is not None)
    defaults = model.defaults_for(pipeline)
    return GenerationPlan(
        prompt=style.render_prompt(request.prompt, plain_background=request.transparent_background),
        width=request.width,
        height=request.height,
        steps=request.steps or style.steps or defaults.steps,
        guidance=next(g for g in (request.guidance, style.guidance, defaults.guidance) if g is not None),
        seeds=[(seed + i) % (MAX_SEED + 1) for i in range(request.num_designs)],
        pipeline=pipeline,
        max_sequence_length=defaults.max_sequence_length,
        photo=photo,
        strength=style.strength,
        kontext_instruction=instruction,
    )


def check_designs(designs: torch.Tensor) -> None:
    """NaN or all-black output is a model failure (fp16 overflow, a broken checkpoint), not a design."""
    if not torch.isfinite(designs).all():
        raise WorkerError(ErrorCode.MODEL_ERROR, "the model produced invalid (NaN) pixels; nothing was uploaded")
    black = (designs.flatten(1).amax(dim=1) < 2 / 255).nonzero().flatten().tolist()
    if black:
        raise WorkerError(ErrorCode.MODEL_ERROR, f"design(s) {black} came out all black; nothing was uploaded")


def runpod_progress(job: dict[str, Any]) -> ProgressSink:
    """On RunPod, progress goes to ``progress_update``; locally there is nowhere to send it, so it is logged."""
    if os.environ.get("RUNPOD_WEBHOOK_POST_OUTPUT"):
        import runpod

        return lambda update: runpod.serverless.progress_update(job, update)
    return lambda update: log.debug("job %s progress %s", job.get("id"), update)


@dataclass
class DesignWorker:
    """Everything loaded once at cold start; ``run`` is called once per job."""

    settings: Settings
    model: LoadedModel | None
    styles: dict[str, Style]
    storage: Storage
    templates: dict[str, MockupTemplate] = field(default_factory=dict)
    s3_target: S3Target | None = None
    faults: FaultPlan = field(default_factory=lambda: FaultPlan(""))
    webhook_signer: Webhook | None = None
    default_webhook_target: OutboundURL | None = None
    finishing: FinishingModels = field(default_factory=FinishingModels)  # MATTE_MODEL, UPSCALER_MODEL
    screen: ContentScreen = field(default_factory=ContentScreen)  # blocked terms, prompt and image classifiers
    startup_error: str | None = None

    @classmethod
    def cold_start(cls, settings: Settings | None = None) -> DesignWorker:
        """Load catalogs and the model. A failure is kept, not raised, so the fitness check can report it."""
        settings = settings or Settings()
        if settings.webhook_secret is None:
            log.warning("WEBHOOK_SECRET is not set: no webhooks will be sent")
        try:
            signer, default_target = webhook_signer(settings), default_webhook_target(settings)
            s3_target = S3Target.from_settings(settings)
            if s3_target is None and os.environ.get("RUNPOD_ENDPOINT_ID"):
                raise ValueError(
                    "no bucket is configured (S3_BUCKET, or BUCKET_ENDPOINT_URL with the bucket in it): on RunPod, "
                    "images written inside the container as file:// URLs could never reach the app"
                )
            storage = storage_for(s3_target, settings)
            styles = load_styles(BUILTIN_STYLES_DIR, settings.styles_dir)
            screen = ContentScreen.from_settings(settings)  # before FLUX: a bad safety setting fails at once
            model = load_model(settings, styles)
            templates = load_templates(BUILTIN_MOCKUPS_DIR, settings.mockups_dir, device=model.device)
            faults = FaultPlan(settings.fault_injection)
            finishing = load_finishing_models(settings)
        except Exception as exc:  # any cold-start failure makes the worker unfit
            log.exception("cold start failed")
            return cls(settings, None, {}, storage_for(None, settings), startup_error=f"{type(exc).__name__}: {exc}")
        if settings.fault_injection:
            log.warning("FAULT_INJECTION is set (%s): jobs will fail on purpose", settings.fault_injection)
        return cls(
            settings, model, styles, storage, templates, s3_target, faults, signer, default_target, finishing, screen
        )

    def fitness_check(self) -> None:
        """Registered with RunPod: a worker that could not load its model must not take jobs."""
        if self.startup_error is not None:
            raise RuntimeError(f"cold start failed: {self.startup_error}")

    def handle(self, job: dict[str, Any]) -> dict[str, Any]:
        """The RunPod handler."""
        return self.run(job, runpod_progress(job))

    def run(self, job: dict[str, Any], progress_sink: ProgressSink) -> dict[str, Any]:
        s3_config = job.get("s3Config") if isinstance(job.get("s3Config"), dict) else {}
        with bind_job(job.get("id")), job_secrets(s3_config.get("accessId"), s3_config.get("accessSecret")):
            return self._run(job, progress_sink)

    def _run(self, job: dict[str, Any], progress_sink: ProgressSink) -> dict[str, Any]:
        progress = JobProgress(progress_sink, self.settings.progress_interval_s, self.settings.job_timeout_s)
        request: JobInput | None = None
        webhook: JobWebhook | None = None
        try:
            if self.model is None:
                raise WorkerError(
                    ErrorCode.MODEL_UNAVAILABLE, f"the model failed to load at cold start ({self.startup_error})"
                )
            with progress.stage("validate"):
                request = parse_job_input(
                    job.get("input"), list(self.styles), self.product_colors(), self.settings.max_output_pixels
                )
                webhook = self._webhook_for(job, request)
                storage = self._storage_for(job)
                rendered = self.styles[request.style].render_prompt(request.prompt, request.transparent_background)
                self.screen.check_prompt(request.prompt, rendered)
            if webhook is not None and self.settings.webhook_progress:
                progress.add_sink(webhook.progress)
            with progress.stage("load_input"):
                photo = None
                if request.image:
                    photo = load_photo(request.image, request.width, request.height, self.settings, progress.deadline)
            style = self.styles[request.style]
            plan = plan_generation(request, style, self.model, photo)
            with progress.stage("generate"):
                fault = self.faults.next_fault()
                raise_fault(fault)
                self.model.use_style(style.name)
                designs = corrupt_output(fault, generate_designs(self.model, plan, on_step=progress.step))
                check_designs(designs)
            with progress.stage("style"):
                styled = stylize(
                    designs, style, plan.seeds, request.transparent_background, request.print_size, self.finishing
                )
                designs = styled.images
                self.screen.check_designs(designs)
            with progress.stage("mockups"):
                mockup_requests = self._mockup_requests(request)
                mockups = composite_mockups(designs, self.templates, mockup_requests)
            with progress.stage("upload"):
                outputs = self._design_outputs(request, plan, designs) + self._mockup_outputs(
                    request, plan, mockup_requests, mockups
                )
                stored = store_outputs(outputs, storage, progress.deadline)
                if fault == "late":
                    progress.deadline.expire()
        except WorkerError as err:
            log.info("job %s failed: %s", job.get("id"), err.code.value)
            response = err.to_response()
        except torch.OutOfMemoryError:
            log.warning("job %s ran out of GPU memory", job.get("id"))
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            response = WorkerError(
                ErrorCode.OUT_OF_MEMORY, "the GPU ran out of memory; try a smaller size or fewer designs"
            ).to_response()
        except torch.AcceleratorError as exc:
            # A CUDA error leaves the context unusable: this worker must not take another job.
            log.error("job %s hit a GPU error, asking RunPod to replace the worker: %s", job.get("id"), exc)
            response = WorkerError(
                ErrorCode.GPU_ERROR, "the GPU failed during the job; retry it on another worker", refresh_worker=True
            ).to_response()
        except Exception:
            log.exception("job %s failed with an unexpected error", job.get("id"))
            response = WorkerError(
                ErrorCode.INTERNAL, "an unexpected error ended the job; it has been logged"
            ).to_response()
        else:
            # The images exist: from here on nothing may turn the job into a failure that hides them.
            result = self._result(request, plan, stored, progress)
            for entry in result["designs"]:
                entry["background"] = styled.backgrounds[entry["index"]].as_dict()
            with progress.stage("webhook", enforce_deadline=False):
                if self._has_webhook_target(request):
                    result["webhook"] = self._deliver(
                        webhook, "design.completed", without_signed_urls(result), progress
                    )
            result["timings_ms"] = {**progress.timings_ms, "total": progress.total_ms()}
            return result
        if request is None:
            webhook = self._default_webhook(job)  # the job's own URL counts only once validated
        if self._has_webhook_target(request):
            event = {"error": response["error"], "error_code": response["error_code"]}
            if "partial_output" in response:
                event["partial_output"] = without_signed_urls(response["partial_output"])
            response["webhook"] = self._deliver(webhook, "design.failed", event, progress)
        return response

    def _identity(self, job: dict[str, Any], design_id: str | None) -> dict[str, Any]:
        return {"design_id": design_id, "job_id": job.get("id")}

    def _storage_for(self, job: dict[str, Any]) -> Storage:
        """The configured storage, or the bucket of RunPod's per-job ``s3Config`` (its endpoint checked)."""
        if not job.get("s3Config"):
            return self.storage
        target = S3Target.from_job(job["s3Config"], self.s3_target, self.settings)
        return storage_for(target, self.settings)

    def _webhook_target(self, request: JobInput) -> OutboundURL | None:
        """The job's own URL (the URL rules and an allowed host, no DNS), else ``WEBHOOK_URL``."""
        return job_target(request.webhook_url, self.settings) if request.webhook_url else self.default_webhook_target

    def _has_webhook_target(self, request: JobInput | None) -> bool:
        if request is None or not request.webhook_url:
            return self.default_webhook_target is not None
        try:
            return self._webhook_target(request) is not None
        except WorkerError:
            return False

    def _webhook_for(self, job: dict[str, Any], request: JobInput) -> JobWebhook | None:
        target = self._webhook_target(request)
        if target is None or self.webhook_signer is None:
            return None
        return JobWebhook(target, self.webhook_signer, self.settings, self._identity(job, request.design_id))

    def _default_webhook(self, job: dict[str, Any]) -> JobWebhook | None:
        if self.default_webhook_target is None or self.webhook_signer is None:
            return None
        return JobWebhook(self.default_webhook_target, self.webhook_signer, self.settings, self._identity(job, None))

    def _deliver(
        self, webhook: JobWebhook | None, event_type: str, data: dict[str, Any], progress: JobProgress
    ) -> dict[str, Any]:
        """The final event, within the job's deadline plus a short grace (a failure must still be told)."""
        if webhook is None:
            return {"delivered": False, "attempts": 0, "last_status": None, "reason": "WEBHOOK_SECRET is not set"}
        deadline = Deadline(min(self.settings.webhook_max_seconds, progress.remaining_s() + REPORT_GRACE_S))
        return webhook.deliver(event_type, data, deadline).as_dict()

    def product_colors(self) -> dict[str, list[str]]:
        return {name: list(template.colors) for name, template in self.templates.items()}

    def _mockup_requests(self, request: JobInput) -> list[MockupRequest]:
        products = request.products if request.products is not None else sorted(self.templates)
        colors = request.colors or {}
        return [MockupRequest(name, colors.get(name, self.templates[name].default_color)) for name in products]

    def _metadata(self, request: JobInput, seed: int) -> dict[str, str]:
        return {"style": request.style, "model": self.model.model_id if self.model else "", "seed": str(seed)}

    def _design_outputs(self, request: JobInput, plan: GenerationPlan, designs: torch.Tensor) -> list[ImageOutput]:
        return [
            ImageOutput(
                kind="design",
                name=f"{request.design_id}/design-{i}",
                pixels=pixels,
                fmt="png",
                dpi=PRINT_DPI if request.print_size else None,
                metadata=self._metadata(request, plan.seeds[i]),
                describes={"index": i, "seed": plan.seeds[i], "pipeline": plan.pipeline},
            )
            for i, pixels in enumerate(to_host_pixels(designs))
        ]

    def _mockup_outputs(
        self, request: JobInput, plan: GenerationPlan, products: list[MockupRequest], mockups: list[torch.Tensor]
    ) -> list[ImageOutput]:
        return [
            ImageOutput(
                kind="mockup",
                name=f"{request.design_id}/mockups/{product.product}-{i}",
                pixels=pixels,
                fmt=request.mockup_format,
                quality=request.mockup_quality,
                metadata=self._metadata(request, plan.seeds[i]),
                describes={"product": product.product, "design_index": i, "color": product.color},
            )
            for product, batch in zip(products, mockups, strict=True)
            for i, pixels in enumerate(to_host_pixels(batch))
        ]

    def _result(
        self, request: JobInput, plan: GenerationPlan, stored: list[StoredOutput], progress: JobProgress
    ) -> dict[str, Any]:
        return {
            "design_id": request.design_id,
            "style": request.style,
            "seed": plan.seeds[0],
            "designs": [item.result_entry() for item in stored if item.output.kind == "design"],
            "mockups": [item.result_entry() for item in stored if item.output.kind == "mockup"],
            "model": self.model.describe() if self.model else None,
            "timings_ms": {**progress.timings_ms, "total": progress.total_ms()},
        }
