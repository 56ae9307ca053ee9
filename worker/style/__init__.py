"""The style stage: background matte, the style's filters, print-size upscaling; styles are files in presets/."""
