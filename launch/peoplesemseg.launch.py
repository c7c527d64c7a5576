"""Launch the peoplesemseg node for one camera.

    ros2 launch peoplesemseg_ros peoplesemseg.launch.py camera:=/front_camera \
        image_topic:=image_raw x:=0.3 z:=0.8 pitch:=0.35

The node runs in the camera's namespace: it subscribes <camera>/<image_topic>
and <camera>/<camera_info_topic> and publishes <camera>/mask, overlay,
person_occupancy and people_scan. Empty arguments leave the value to the
params file (default: the package's config/peoplesemseg.yaml).
"""

from __future__ import annotations

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchContext, LaunchDescription

POSE = ("x", "y", "z", "roll", "pitch", "yaw")


def _node(context: LaunchContext) -> list[Node]:
    def arg(name: str) -> str:
        return str(LaunchConfiguration(name).perform(context)).strip()

    overrides: dict[str, object] = {
        "use_sim_time": arg("use_sim_time").lower() in ("true", "1", "yes"),
        "autostart": arg("autostart").lower() in ("true", "1", "yes"),
    }
    if arg("model"):
        overrides["model"] = arg("model")
    if arg("model_path"):
        overrides["model_path"] = arg("model_path")
    if arg("backend"):
        overrides["backend"] = arg("backend")
    pose = [arg(k) for k in POSE]
    if any(pose):
        # Unset components take the single-camera defaults (x, y, roll, pitch, yaw 0; z 1 m).
        defaults = (0.0, 0.0, 1.0, 0.0, 0.0, 0.0)
        overrides["camera_pose"] = [float(v) if v else d
                                    for v, d in zip(pose, defaults, strict=True)]
    params_file = arg("params_file")
    return [Node(
        package="peoplesemseg_ros",
        executable="peoplesemseg_node",
        name=arg("node_name"),
        namespace=arg("camera"),
        parameters=[params_file, overrides] if params_file else [overrides],
        remappings=[("image", arg("image_topic")),
                    ("image/compressed", arg("image_topic") + "/compressed"),
                    ("camera_info", arg("camera_info_topic"))],
        output="screen",
        emulate_tty=True,
    )]


def generate_launch_description() -> LaunchDescription:
    default_params = PathJoinSubstitution(
        [FindPackageShare("peoplesemseg_ros"), "config", "peoplesemseg.yaml"])
    args = [
        DeclareLaunchArgument("camera", default_value="camera", description=(
            "camera namespace: the node runs in it and every topic is relative to it")),
        DeclareLaunchArgument("image_topic", default_value="image_raw", description=(
            "image topic inside the camera namespace (remapped to the node's 'image'; with "
            "input_transport: compressed, '<image_topic>/compressed')")),
        DeclareLaunchArgument("camera_info_topic", default_value="camera_info", description=(
            "CameraInfo topic inside the camera namespace (needed for occupancy only)")),
        DeclareLaunchArgument("params_file", default_value=default_params, description=(
            "ROS parameters YAML for the node (all parameters, see config/peoplesemseg.yaml); "
            "empty: built-in defaults")),
        DeclareLaunchArgument("model", default_value="", description=(
            "embedded model: default | default_single | fast | default_int8 | fast_int8 (see "
            "models/MODEL.md); "
            "empty: the params file's value (default: default)")),
        DeclareLaunchArgument("model_path", default_value="", description=(
            "ONNX model or TensorRT engine; empty: the params file's value (default: the "
            "embedded model)")),
        DeclareLaunchArgument("backend", default_value="", description=(
            "auto | onnxruntime | tensorrt; empty: the params file's value (default auto)")),
        DeclareLaunchArgument("use_sim_time", default_value="false", description=(
            "use /clock (true when replaying a bag with --clock)")),
        DeclareLaunchArgument("autostart", default_value="true", description=(
            "configure and activate at start; false: wait for lifecycle transitions")),
        DeclareLaunchArgument("node_name", default_value="peoplesemseg", description=(
            "node name (one node per camera namespace, or use the cameras parameter)")),
    ]
    units = {"x": "m", "y": "m", "z": "m", "roll": "rad", "pitch": "rad", "yaw": "rad"}
    args += [DeclareLaunchArgument(k, default_value="", description=(
        f"camera pose in base_frame: {k} [{units[k]}] of the camera body frame (REP 103, x "
        "forward); empty: the params file's camera_pose")) for k in POSE]
    return LaunchDescription([*args, OpaqueFunction(function=_node)])
