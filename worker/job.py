"""The worker: cold start once, then one job at a time, as a recipe of stages, top to bottom.

    validate    worker.schema, worker.delivery.routes, worker.generation.plan, worker.safety.prompts
    load_input  worker.outbound.inputs
    generate    worker.generation.generate
    style       worker.style.stylize, worker.safety.designs
    mockups     worker.mockups.fit, worker.mockups.composite, worker.mockups.print_files
    upload      worker.delivery.outputs (each image encoded, then uploaded as soon as it is)
    webhook     worker.delivery.webhooks

This file only runs the stages in order; what each does is in its own module.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from typing import Any

from worker.delivery.outputs import job_outputs, job_result, store_outputs
from worker.delivery.routes import DeliveryRoutes
from worker.delivery.webhooks import JobWebhook
from worker.errors import ErrorCode, WorkerError, error_response
from worker.generation.generate import check_designs, generate_designs
from worker.generation.model import LoadedModel, load_model
from worker.generation.plan import plan_generation
from worker.mockups.composite import composite_mockups, mockup_requests
from worker.mockups.fit import design_layouts
from worker.mockups.print_files import print_file_size, render_print_files
from worker.mockups.templates import BUILTIN_MOCKUPS_DIR, MockupTemplate, load_templates, product_colors
from worker.outbound.inputs import load_photo
from worker.progress import JobProgress, ProgressSink
from worker.runtime.config import Settings
from worker.runtime.devices import Runtime
from worker.runtime.faults import FaultPlan, with_fault
from worker.runtime.logs import bind_job, job_secrets
from worker.safety.designs import check_designs as screen_designs
from worker.safety.prompts import check_prompt
from worker.safety.screen import ContentScreen
from worker.schema import JobInput, parse_job_input
from worker.style.catalog import BUILTIN_STYLES_DIR, Style, load_styles
from worker.style.stylize import FinishingModels, load_finishing_models, stylize

log = logging.getLogger(__name__)


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
    delivery: DeliveryRoutes  # the configured bucket (or OUTPUT_DIR) and webhook
    model: LoadedModel | None = None
    styles: dict[str, Style] = field(default_factory=dict)
    templates: dict[str, MockupTemplate] = field(default_factory=dict)
    finishing: FinishingModels = field(default_factory=FinishingModels)  # MATTE_MODEL, UPSCALER_MODEL
    screen: ContentScreen = field(default_factory=ContentScreen)  # blocked terms, prompt and image classifiers
    faults: FaultPlan = field(default_factory=lambda: FaultPlan(""))  # tests only: FAULT_INJECTION
    startup_error: str | None = None

    @classmethod
    def cold_start(cls, settings: Settings | None = None) -> DesignWorker:
        """Load catalogs and the model. A failure is kept, not raised, so the fitness check can report it."""
        settings = settings or Settings()
        if settings.webhook_secret is None:
            log.warning("WEBHOOK_SECRET is not set: no webhooks will be sent")
        try:
            delivery = DeliveryRoutes.from_settings(settings)
            runtime = Runtime.from_settings(settings)
            styles = load_styles(BUILTIN_STYLES_DIR, settings.styles_dir)
            screen = ContentScreen.from_settings(settings, runtime)  # before FLUX: a bad safety setting fails at once
            model = load_model(settings, styles, runtime)
            templates = load_templates(BUILTIN_MOCKUPS_DIR, settings.mockups_dir, device=runtime.device)
            faults = FaultPlan(settings.fault_injection)
            finishing = load_finishing_models(settings, runtime)
        except Exception as exc:  # any cold-start failure makes the worker unfit
            log.exception("cold start failed")
            return cls(settings, DeliveryRoutes.unconfigured(settings), startup_error=f"{type(exc).__name__}: {exc}")
        if settings.fault_injection:
            log.warning("FAULT_INJECTION is set (%s): jobs will fail on purpose", settings.fault_injection)
        return cls(settings, delivery, model, styles, templates, finishing, screen, faults)

    def fitness_check(self) -> None:
        """Registered with RunPod: a worker that could not load its model must not take jobs."""
        if self.startup_error is not None:
            raise RuntimeError(f"cold start failed: {self.startup_error}")

    def handle(self, job: dict[str, Any]) -> dict[str, Any]:
        """The RunPod handler."""
        return self.run(job, runpod_progress(job))

    def run(self, job: dict[str, Any], progress_sink: ProgressSink) -> dict[str, Any]:
        """One job; its id is on every log line, and its own credentials are kept out of them."""
        s3_config = job.get("s3Config") if isinstance(job.get("s3Config"), dict) else {}
        with bind_job(job.get("id")), job_secrets(s3_config.get("accessId"), s3_config.get("accessSecret")):
            return self.run_stages(
                job, JobProgress(progress_sink, self.settings.progress_interval_s, self.settings.job_timeout_s)
            )

    def run_stages(self, job: dict[str, Any], progress: JobProgress) -> dict[str, Any]:
        """The recipe. A failure is reported with what was stored before it, and the worker stays up."""
        request, webhook = None, None
        try:
            model = self.loaded_model()
            with progress.stage("validate"):
                request = self.parse_input(job.get("input"))
                webhook = self.delivery.webhook_for(job, request, progress)
                storage = self.delivery.storage_for(job)
                style = self.styles[request.style]
                plan = plan_generation(request, style, model)
                check_prompt(self.screen, request.prompt, plan.prompt)
            with progress.stage("load_input"):
                if request.image:
                    size, deadline = (request.width, request.height), progress.deadline
                    plan = plan.with_photo(load_photo(request.image, *size, self.settings, deadline, plan.runs_model))
            with progress.stage("generate"):
                fault = self.faults.next_fault()
                designs = with_fault(fault, lambda: generate_designs(model, plan, on_step=progress.step))
                check_designs(designs)
            with progress.stage("style"):
                styled = stylize(
                    designs, style, plan.seeds, request.transparent_background, request.print_size, self.finishing
                )
                screen_designs(self.screen, styled.images)
            with progress.stage("mockups"):
                products = mockup_requests(self.templates, request.products, request.colors)
                layouts = design_layouts(styled.images, styled.subjects)
                mockups = composite_mockups(styled.images, self.templates, products, layouts)
                names = [product.product for product in products] if request.print_files else []
                print_files = render_print_files(styled.images, layouts, self.templates, names)
            with progress.stage("upload"):
                outputs = job_outputs(request, plan, styled, products, mockups, model.model_id, print_files)
                stored = store_outputs(outputs, storage, progress.deadline)
                if fault == "late":
                    progress.deadline.expire()
        except Exception as exc:  # noqa: BLE001  (every failure becomes a response: worker/errors.py)
            return self.report_failure(job, request, webhook, error_response(exc, job.get("id")), progress)
        # The images exist: from here on nothing may turn the job into a failure that hides them.
        result = job_result(request, plan, stored, model.describe())
        with progress.stage("webhook", enforce_deadline=False):
            if webhook is not None:
                result["webhook"] = webhook.completed(result, progress)
        return {**result, "timings_ms": progress.timings()}

    def parse_input(self, raw: Any) -> JobInput:
        """``job["input"]`` validated against the loaded catalogs and the configured bounds."""
        return parse_job_input(
            raw,
            list(self.styles),
            self.products,
            self.settings.max_output_pixels,
            photo_styles=frozenset(name for name, style in self.styles.items() if not style.generate),
            print_file_pixels={name: math.prod(print_file_size(t)) for name, t in self.templates.items()},
            max_print_file_pixels=self.settings.max_print_file_pixels,
        )

    @property
    def products(self) -> dict[str, list[str]]:
        """Each product and its colour variants, as the job contract validates them."""
        return product_colors(self.templates)

    def loaded_model(self) -> LoadedModel:
        if self.model is None:
            message = f"the model failed to load at cold start ({self.startup_error})"
            raise WorkerError(ErrorCode.MODEL_UNAVAILABLE, message)
        return self.model

    def report_failure(
        self,
        job: dict[str, Any],
        request: JobInput | None,
        webhook: JobWebhook | None,
        response: dict[str, Any],
        progress: JobProgress,
    ) -> dict[str, Any]:
        """The failure, told to the job's webhook, or to ``WEBHOOK_URL`` when the job did not validate."""
        if request is None:
            webhook = self.delivery.webhook_for(job, None)
        if webhook is not None:
            response["webhook"] = webhook.failed(response, progress)
        return response
