"""Plain nn.Modules (no Lightning): MLP, LeNet-5, ResNet, DenseNet, and the bodies of the other families."""
