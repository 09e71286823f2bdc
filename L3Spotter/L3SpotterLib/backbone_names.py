"""The trunks a window regressor can have (names only: the model card checks them without torch)."""

BACKBONES = ("mobilenet_v2", "vgg16", "resnet18", "cnn4")
IMAGENET_BACKBONES = ("mobilenet_v2", "vgg16", "resnet18")
