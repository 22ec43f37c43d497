"""Open GoPro model facts used by more than one part of the family (config, driver, waker).

No imports: the config, the driver and the waker all read these, so they must load first.
"""

#: Open GoPro models (HTTP API 2.0 on port 8080, BLE per the Open GoPro BLE spec).
OPEN_GOPRO_MODELS = ("hero9", "hero10", "hero11", "hero12", "hero13")
#: HERO9 Black: ``/gopro/camera/shutter/{mode}`` lists HERO10 Black as its oldest camera
#: (openapi_http_2.0.json, x-supported-cameras), so a HERO9's shutter goes over BLE.
BLE_SHUTTER_MODELS = ("hero9",)
