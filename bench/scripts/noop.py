"""Entry script of the scheduler figure: a no-op ``run()``."""


def run(mini_batch):
    return mini_batch
