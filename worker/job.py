"""The worker: cold start once, then one job at a time, top to bottom.

validate -> load input -> generate -> style -> mockups -> encode -> upload -> webhook
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field
from typing import Any

import torch

from worker.config import Settings
from worker.encode import CONTENT_TYPES, encode_batch
from worker.errors import ErrorCode, WorkerError
from worker.faults import FaultPlan, corrupt_output, raise_fault
from worker.generate import GenerationPlan, generate_designs
from worker.inputs import load_photo
from worker.logs import bind_job, redact_secret
from worker.model import LoadedModel, load_model
from worker.products import BUILTIN_MOCKUPS_DIR, MockupRequest, MockupTemplate, composite_mockups, load_templates
from worker.progress import JobProgress, ProgressSink
from worker.schema import MAX_SEED, JobInput, parse_job_input
from worker.storage import Artifact, S3Target, Storage, StoredArtifact, design_key, mockup_key, storage_for
from worker.styles import BUILTIN_STYLES_DIR, Style, load_styles
from worker.stylize import PRINT_DPI, FinishingModels, load_finishing_models, style_designs
from worker.webhooks import ProgressWebhooks, WebhookSender, check_webhook_url, without_signed_urls

log = logging.getLogger(__name__)


def plan_generation(request: JobInput, style: Style, model: LoadedModel, photo: Any) -> GenerationPlan:
    """Job values win over the style's overrides, which win over the model family's defaults."""
    seed = request.seed if request.seed is not None else secrets.randbelow(MAX_SEED + 1)
    defaults = model.defaults
    return GenerationPlan(
        prompt=style.render_prompt(request.prompt, plain_background=request.transparent_background),
        width=request.width,
        height=request.height,
        steps=request.steps or style.steps or defaults.steps,
        guidance=next(g for g in (request.guidance, style.guidance, defaults.guidance) if g is not None),
        seeds=[(seed + i) % (MAX_SEED + 1) for i in range(request.num_designs)],
        photo=photo,
        strength=style.strength,
        kontext_instruction=style.render_instruction(plain_background=request.transparent_background),
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
    startup_error: str | None = None
    finishing: FinishingModels = field(default_factory=FinishingModels)  # MATTE_MODEL, UPSCALER_MODEL

    @classmethod
    def cold_start(cls, settings: Settings | None = None) -> DesignWorker:
        """Load catalogs and the model. A failure is kept, not raised, so the fitness check can report it."""
        settings = settings or Settings()
        if settings.webhook_secret is None:
            log.warning("WEBHOOK_SECRET is not set: no webhooks will be sent")
        try:
            s3_target = S3Target.from_settings(settings)
            storage = storage_for(s3_target, settings)
            styles = load_styles(BUILTIN_STYLES_DIR, settings.styles_dir)
            model = load_model(settings)
            templates = load_templates(BUILTIN_MOCKUPS_DIR, settings.mockups_dir, device=model.device)
            faults = FaultPlan(settings.fault_injection)
            finishing = load_finishing_models(settings)
        except Exception as exc:  # any cold-start failure makes the worker unfit
            log.exception("cold start failed")
            return cls(settings, None, {}, storage_for(None, settings), startup_error=f"{type(exc).__name__}: {exc}")
        if settings.fault_injection:
            log.warning("FAULT_INJECTION is set (%s): jobs will fail on purpose", settings.fault_injection)
        return cls(settings, model, styles, storage, templates, s3_target, faults, finishing=finishing)

    def fitness_check(self) -> None:
        """Registered with RunPod: a worker that could not load its model must not take jobs."""
        if self.startup_error is not None:
            raise RuntimeError(f"cold start failed: {self.startup_error}")

    def handle(self, job: dict[str, Any]) -> dict[str, Any]:
        """The RunPod handler."""
        return self.run(job, runpod_progress(job))

    def run(self, job: dict[str, Any], progress_sink: ProgressSink) -> dict[str, Any]:
        with bind_job(job.get("id")):
            return self._run(job, progress_sink)

    def _run(self, job: dict[str, Any], progress_sink: ProgressSink) -> dict[str, Any]:
        progress = JobProgress(progress_sink, self.settings.progress_interval_s, self.settings.job_timeout_s)
        request: JobInput | None = None
        progress_webhooks: ProgressWebhooks | None = None
        try:
            if self.model is None:
                raise WorkerError(
                    ErrorCode.MODEL_UNAVAILABLE, f"the model failed to load at cold start ({self.startup_error})"
                )
            with progress.stage("validate"):
                request = parse_job_input(
                    job.get("input"), list(self.styles), self.product_colors(), self.settings.max_output_pixels
                )
                storage = self._storage_for(job)
                webhook = self._webhook_for(request.webhook_url)
            if webhook is not None and self.settings.webhook_progress:
                progress_webhooks = ProgressWebhooks(webhook, self._identity(job, request.design_id))
                progress.add_sink(progress_webhooks)
            with progress.stage("load_input"):
                fetch_timeout_s = min(self.settings.input_fetch_timeout_s, max(progress.remaining_s(), 0.1))
                photo = None
                if request.image:
                    photo = load_photo(request.image, request.width, request.height, self.settings, fetch_timeout_s)
            style = self.styles[request.style]
            plan = plan_generation(request, style, self.model, photo)
            with progress.stage("generate"):
                fault = self.faults.next_fault()
                raise_fault(fault)
                designs = corrupt_output(fault, generate_designs(self.model, plan, on_step=progress.step))
                check_designs(designs)
            with progress.stage("style"):
                designs = style_designs(
                    designs, style, plan.seeds, request.transparent_background, request.print_size, self.finishing
                )
            with progress.stage("mockups"):
                mockup_requests = self._mockup_requests(request)
                mockups = composite_mockups(designs, self.templates, mockup_requests)
            with progress.stage("encode"):
                artifacts = self._design_artifacts(request, plan, designs)
                artifacts += self._mockup_artifacts(request, plan, mockup_requests, mockups)
                height, width = designs.shape[-2:]
            with progress.stage("upload"):
                stored = storage.put_all(artifacts)
            result = self._result(request, plan, (width, height), mockup_requests, stored, progress)
            if progress_webhooks is not None:
                progress_webhooks.close()
            with progress.stage("webhook"):
                if request.webhook_url or self.settings.webhook_url:
                    event = {**self._identity(job, request.design_id), **without_signed_urls(result)}
                    result["webhook"] = self._deliver(webhook, "design.completed", event)
            result["timings_ms"]["total"] = progress.total_ms()
            return result
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
        if progress_webhooks is not None:
            progress_webhooks.close()
        return self._report_failure(job, request, response)

    def _identity(self, job: dict[str, Any], design_id: str | None) -> dict[str, Any]:
        return {"design_id": design_id, "job_id": job.get("id")}

    def _storage_for(self, job: dict[str, Any]) -> Storage:
        """The configured storage, or the bucket of RunPod's per-job ``s3Config``."""
        if not job.get("s3Config"):
            return self.storage
        target = S3Target.from_job(job["s3Config"], self.s3_target)
        redact_secret(target.secret_access_key)
        redact_secret(target.access_key_id)
        return storage_for(target, self.settings)

    def _webhook_for(self, job_url: str | None) -> WebhookSender | None:
        """The job's own URL (checked against the allowed hosts), else ``WEBHOOK_URL``; None without a secret."""
        url = check_webhook_url(job_url, self.settings) if job_url else self.settings.webhook_url
        if url is None or self.settings.webhook_secret is None:
            return None
        return WebhookSender(url, self.settings.webhook_secret.get_secret_value(), self.settings)

    def _deliver(self, webhook: WebhookSender | None, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
        if webhook is None:
            return {"delivered": False, "attempts": 0, "last_status": None, "reason": "WEBHOOK_SECRET is not set"}
        return webhook.send(event_type, data).as_dict()

    def _report_failure(
        self, job: dict[str, Any], request: JobInput | None, response: dict[str, Any]
    ) -> dict[str, Any]:
        """Send ``design.failed`` where a webhook target is known; a job URL counts only once validated."""
        job_url = request.webhook_url if request is not None else None
        if not (job_url or self.settings.webhook_url):
            return response
        try:
            webhook = self._webhook_for(job_url)
        except WorkerError:
            return response
        design_id = request.design_id if request is not None else None
        event = {**self._identity(job, design_id), "error": response["error"], "error_code": response["error_code"]}
        response["webhook"] = self._deliver(webhook, "design.failed", event)
        return response

    def product_colors(self) -> dict[str, list[str]]:
        return {name: list(template.colors) for name, template in self.templates.items()}

    def _mockup_requests(self, request: JobInput) -> list[MockupRequest]:
        products = request.products if request.products is not None else sorted(self.templates)
        colors = request.colors or {}
        return [MockupRequest(name, colors.get(name, self.templates[name].default_color)) for name in products]

    def _metadata(self, request: JobInput, seed: int) -> dict[str, str]:
        return {"style": request.style, "model": self.model.model_id if self.model else "", "seed": str(seed)}

    def _design_artifacts(self, request: JobInput, plan: GenerationPlan, designs: torch.Tensor) -> list[Artifact]:
        encoded = encode_batch(designs, "png", dpi=PRINT_DPI if request.print_size else None)
        return [
            Artifact(
                design_key(request.design_id, i), data, CONTENT_TYPES["png"], self._metadata(request, plan.seeds[i])
            )
            for i, data in enumerate(encoded)
        ]

    def _mockup_artifacts(
        self, request: JobInput, plan: GenerationPlan, products: list[MockupRequest], mockups: list[torch.Tensor]
    ) -> list[Artifact]:
        if not mockups:
            return []
        fmt = request.mockup_format
        encoded = iter(encode_batch(torch.cat(mockups), fmt, request.mockup_quality))
        return [
            Artifact(
                mockup_key(request.design_id, product.product, i, fmt),
                next(encoded),
                CONTENT_TYPES[fmt],
                self._metadata(request, plan.seeds[i]),
            )
            for product in products
            for i in range(len(plan.seeds))
        ]

    def _result(
        self,
        request: JobInput,
        plan: GenerationPlan,
        design_size: tuple[int, int],
        products: list[MockupRequest],
        stored: list[StoredArtifact],
        progress: JobProgress,
    ) -> dict[str, Any]:
        width, height = design_size
        count = len(plan.seeds)
        designs = [
            {"index": i, "key": item.key, "url": item.url, "width": width, "height": height, "seed": plan.seeds[i]}
            for i, item in enumerate(stored[:count])
        ]
        stored_mockups = iter(stored[count:])
        mockups = []
        for product in products:
            template_width, template_height = self.templates[product.product].size
            for i in range(count):
                item = next(stored_mockups)
                mockups.append(
                    {
                        "product": product.product,
                        "design_index": i,
                        "color": product.color,
                        "key": item.key,
                        "url": item.url,
                        "width": template_width,
                        "height": template_height,
                    }
                )
        return {
            "design_id": request.design_id,
            "style": request.style,
            "seed": plan.seeds[0],
            "designs": designs,
            "mockups": mockups,
            "model": self.model.describe() if self.model else None,
            "timings_ms": {**progress.timings_ms, "total": progress.total_ms()},
        }
