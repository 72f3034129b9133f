import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from astrolens.models._training import CHECKPOINT_NAME, epoch_rng, train


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    x, y = torch.from_numpy(x), torch.from_numpy(y)

    def batches(epoch, rank, world_size):
        order = epoch_rng(0, epoch).permutation(64)[rank::world_size]
        for i in range(0, len(order), 16):
            idx = torch.from_numpy(order[i:i + 16])
            yield x[idx], y[idx]

    def val():
        return [(x, y)]

    return batches, val


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 2))


def _accuracy(outputs, targets):
    return {'accuracy': float((outputs.argmax(1) == targets).float().mean())}


def test_train_learns_and_records_history():
    batches, val = _problem()
    model = _model()
    result = train(model, F.cross_entropy, batches, epochs=5, steps_per_epoch=4, lr=0.05,
                   val_batches=val, metrics=_accuracy, progress=False, device='cpu')
    assert [h['epoch'] for h in result.history] == [1, 2, 3, 4, 5]
    assert result.history[-1]['val_accuracy'] > 0.8
    assert result.history[-1]['train_loss'] < result.history[0]['train_loss']
    assert result.best_epoch is not None


def test_resume_after_a_kill_gives_the_same_weights(tmp_path):
    batches, val = _problem()
    straight = _model()
    train(straight, F.cross_entropy, batches, epochs=4, steps_per_epoch=4, lr=0.05,
          progress=False, device='cpu', seed=3)
    first = _model()
    train(first, F.cross_entropy, batches, epochs=4, steps_per_epoch=4, lr=0.05,
          progress=False, device='cpu', seed=3, checkpoint_dir=tmp_path, max_minutes=None)
    # Simulate a kill after epoch 2: rewrite the checkpoint of a run stopped there.
    killed = _model()
    ckpt = tmp_path / 'killed'
    _train_epochs(killed, batches, ckpt, epochs_done=2)
    resumed = _model()
    result = train(resumed, F.cross_entropy, batches, epochs=4, steps_per_epoch=4, lr=0.05,
                   progress=False, device='cpu', seed=3, checkpoint_dir=ckpt)
    assert result.resumed_from == 2
    assert [h['epoch'] for h in result.history] == [1, 2, 3, 4]
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(),
                    strict=True):
        torch.testing.assert_close(a, b)
    for a, b in zip(straight.state_dict().values(), first.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)


def _train_epochs(model, batches, ckpt, *, epochs_done):
    """Run the first ``epochs_done`` epochs of a 4-epoch run, then stop as if killed."""
    class Killed(Exception):
        pass

    def dying(epoch, rank, world_size):
        if epoch >= epochs_done:
            raise Killed
        yield from batches(epoch, rank, world_size)

    with pytest.raises(Killed):
        train(model, F.cross_entropy, dying, epochs=4, steps_per_epoch=4, lr=0.05,
              progress=False, device='cpu', seed=3, checkpoint_dir=ckpt)
    assert (ckpt / CHECKPOINT_NAME).is_file()


def test_checkpoint_loads_without_unpickling(tmp_path):
    batches, val = _problem()
    train(_model(), F.cross_entropy, batches, epochs=1, steps_per_epoch=2, progress=False,
          device='cpu', checkpoint_dir=tmp_path, val_batches=val)
    state = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)
    assert {'model', 'optimizer', 'scheduler', 'epoch', 'history', 'rng_cpu'} <= set(state)
    assert state['epoch'] == 1
    assert not list(tmp_path.glob('.*tmp*'))


def test_early_stopping_keeps_the_best_epoch():
    batches, val = _problem()
    result = train(_model(), F.cross_entropy, batches, epochs=50, steps_per_epoch=4, lr=0.0,
                   val_batches=val, patience=2, progress=False, device='cpu')
    # With lr=0 nothing improves after epoch 1.
    assert result.stopped_early
    assert len(result.history) == 3
    assert result.best_epoch == 1


def test_time_budget_shortens_the_schedule():
    batches, _ = _problem()
    result = train(_model(), F.cross_entropy, batches, epochs=100, steps_per_epoch=4,
                   max_minutes=1e-6, progress=False, device='cpu')
    assert len(result.history) == 1
    assert result.history[0]['lr'] < 0.05


def test_monitor_must_be_a_validation_metric():
    batches, val = _problem()
    with pytest.raises(ValueError, match='monitor'):
        train(_model(), F.cross_entropy, batches, epochs=1, steps_per_epoch=1,
              val_batches=val, monitor='val_auc', progress=False, device='cpu')


def test_unreadable_checkpoint_says_what_to_do(tmp_path):
    (tmp_path / CHECKPOINT_NAME).write_bytes(b'garbage')
    batches, _ = _problem()
    with pytest.raises(ValueError, match='resume=False'):
        train(_model(), F.cross_entropy, batches, epochs=1, steps_per_epoch=1,
              checkpoint_dir=tmp_path, progress=False, device='cpu')


def test_lr_scales_freeze_and_slow_parameter_groups():
    batches, _ = _problem()
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train(model, F.cross_entropy, batches, epochs=2, steps_per_epoch=4, lr=0.05,
          progress=False, device='cpu', lr_scales={'0.': 0.0, '3.': 0.1})
    after = model.state_dict()
    assert torch.equal(after['0.weight'], before['0.weight'])
    assert not torch.equal(after['3.weight'], before['3.weight'])
    with pytest.raises(ValueError, match='freezes every parameter'):
        train(_model(), F.cross_entropy, batches, epochs=1, steps_per_epoch=1,
              progress=False, device='cpu', lr_scales={'': 0})
    with pytest.raises(ValueError, match='non-negative'):
        train(_model(), F.cross_entropy, batches, epochs=1, steps_per_epoch=1,
              progress=False, device='cpu', lr_scales={'0.': -1})


class _CountingLoss:
    """A loss with state of its own, as an adversarial loss has."""

    def __init__(self):
        self.calls = 0

    def __call__(self, outputs, targets):
        self.calls += 1
        return F.cross_entropy(outputs, targets)

    def validation_loss(self, outputs, targets):
        return torch.tensor(float(self.calls))

    def checkpoint_state(self):
        return {'calls': self.calls}

    def load_checkpoint_state(self, state):
        self.calls = state['calls']


def test_stateful_loss_is_checkpointed_and_used_for_validation(tmp_path):
    batches, val = _problem()

    class Killed(Exception):
        pass

    def dying(epoch, rank, world_size):
        if epoch >= 2:
            raise Killed
        yield from batches(epoch, rank, world_size)

    loss = _CountingLoss()
    with pytest.raises(Killed):
        train(_model(), loss, dying, epochs=3, steps_per_epoch=4, val_batches=val,
              progress=False, device='cpu', checkpoint_dir=tmp_path)
    assert loss.calls == 8
    resumed = _CountingLoss()
    result = train(_model(), resumed, batches, epochs=3, steps_per_epoch=4, val_batches=val,
                   progress=False, device='cpu', checkpoint_dir=tmp_path)
    assert result.resumed_from == 2
    assert resumed.calls == 12
    assert result.history[-1]['val_loss'] == 12.0
