"""The ROS-free data path, in data order.

:mod:`~peoplesemseg_ros.core.images` (sensor_msgs Image / CompressedImage <-> RGB),
:mod:`~peoplesemseg_ros.core.preprocess` (letterbox into a preallocated batch, presets),
:mod:`~peoplesemseg_ros.core.backends` (the Backend protocol, model I/O, ONNX Runtime,
TensorRT + engine cache), :mod:`~peoplesemseg_ros.core.postprocess` (class map -> mask,
overlay) and :mod:`~peoplesemseg_ros.core.pipeline` (all of it behind one call).
Nothing here imports rclpy.
"""

__all__: list[str] = []
