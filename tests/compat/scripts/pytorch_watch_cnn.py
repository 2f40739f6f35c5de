"""wandb/examples (5cab887) colabs/pytorch/Simple_PyTorch_Integration.ipynb, its cells joined as a
script: a ConvNet under wandb.watch(model, criterion, log="all", log_freq=10), wandb.log of the loss
tensor with step=example_ct, test accuracy, the model saved and wandb.save'd.
Changed: torchvision MNIST (a download) -> synthetic tensors of MNIST's shape, 640/128 examples
instead of 12000/2000; epochs 5 -> 2, batch_size 128 -> 16 (so that every 25th batch still logs);
num_workers 2 -> 0; seeds as constants (not hash() of strings, which differs per process);
tqdm dropped; torch.onnx.export (needs onnx) -> torch.save of the same model to model.onnx."""

# ruff: noqa: UP008  (the public code as written)
import random

import numpy as np
import torch
import torch.nn as nn

import runship as wandb

# Ensure deterministic behavior
torch.backends.cudnn.deterministic = True
random.seed(1)
np.random.seed(2)
torch.manual_seed(3)

# Device configuration
device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")

config = dict(
    epochs=2, classes=10, kernels=[16, 32], batch_size=16, learning_rate=0.005, dataset="MNIST", architecture="CNN"
)


def model_pipeline(hyperparameters):
    # tell wandb to get started
    with wandb.init(project="pytorch-demo", config=hyperparameters):
        # access all HPs through wandb.config, so logging matches execution!
        config = wandb.config

        # make the model, data, and optimization problem
        model, train_loader, test_loader, criterion, optimizer = make(config)
        print(model)

        # and use them to train the model
        train(model, train_loader, criterion, optimizer, config)

        # and test its final performance
        test(model, test_loader)

    return model


def make(config):
    # Make the data
    train, test = get_data(train=True), get_data(train=False)
    train_loader = make_loader(train, batch_size=config.batch_size)
    test_loader = make_loader(test, batch_size=config.batch_size)

    # Make the model
    model = ConvNet(config.kernels, config.classes).to(device)

    # Make the loss and optimizer
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)

    return model, train_loader, test_loader, criterion, optimizer


def get_data(slice=5, train=True):
    n = 640 * slice if train else 128 * slice
    g = torch.Generator().manual_seed(0 if train else 1)
    full_dataset = torch.utils.data.TensorDataset(
        torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)
    )
    #  equiv to slicing with [::slice]
    sub_dataset = torch.utils.data.Subset(full_dataset, indices=range(0, len(full_dataset), slice))

    return sub_dataset


def make_loader(dataset, batch_size):
    loader = torch.utils.data.DataLoader(
        dataset=dataset, batch_size=batch_size, shuffle=True, pin_memory=torch.cuda.is_available(), num_workers=0
    )
    return loader


# Conventional and convolutional neural network


class ConvNet(nn.Module):
    def __init__(self, kernels, classes=10):
        super(ConvNet, self).__init__()

        self.layer1 = nn.Sequential(
            nn.Conv2d(1, kernels[0], kernel_size=5, stride=1, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.layer2 = nn.Sequential(
            nn.Conv2d(16, kernels[1], kernel_size=5, stride=1, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.fc = nn.Linear(7 * 7 * kernels[-1], classes)

    def forward(self, x):
        out = self.layer1(x)
        out = self.layer2(out)
        out = out.reshape(out.size(0), -1)
        out = self.fc(out)
        return out


def train(model, loader, criterion, optimizer, config):
    # Tell wandb to watch what the model gets up to: gradients, weights, and more!
    wandb.watch(model, criterion, log="all", log_freq=10)

    # Run training and track with wandb
    example_ct = 0  # number of examples seen
    batch_ct = 0
    for epoch in range(config.epochs):
        for _, (images, labels) in enumerate(loader):
            loss = train_batch(images, labels, model, optimizer, criterion)
            example_ct += len(images)
            batch_ct += 1

            # Report metrics every 25th batch
            if ((batch_ct + 1) % 25) == 0:
                train_log(loss, example_ct, epoch)


def train_batch(images, labels, model, optimizer, criterion):
    images, labels = images.to(device), labels.to(device)

    # Forward pass ➡
    outputs = model(images)
    loss = criterion(outputs, labels)

    # Backward pass ⬅
    optimizer.zero_grad()
    loss.backward()

    # Step with optimizer
    optimizer.step()

    return loss


def train_log(loss, example_ct, epoch):
    # Where the magic happens
    wandb.log({"epoch": epoch, "loss": loss}, step=example_ct)
    print(f"Loss after {str(example_ct).zfill(5)} examples: {loss:.3f}")


def test(model, test_loader):
    model.eval()

    # Run the model on some test examples
    with torch.no_grad():
        correct, total = 0, 0
        for images, labels in test_loader:
            images, labels = images.to(device), labels.to(device)
            outputs = model(images)
            _, predicted = torch.max(outputs.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()

        print(f"Accuracy of the model on the {total} " + f"test images: {correct / total:%}")

        wandb.log({"test_accuracy": correct / total})

    # Save the model in the exchangeable ONNX format
    torch.save(model, "model.onnx")  # was torch.onnx.export(model, images, "model.onnx")
    wandb.save("model.onnx")


if __name__ == "__main__":
    # Build, train and analyze the model with the pipeline
    model = model_pipeline(config)
