"""
Few-shot fine-tuning on a handful of registered pairs
=====================================================

Real LR/HR pairs are scarce: a few hundred HSC cutouts with HST
counterparts at most. `SuperResolver.fine_tune
<astrolens.models.SuperResolver.fine_tune>` adapts a trained
network to such a set with a tenth of the learning rate, the 8 rotations
and flips of the square, input-noise jitter and early stopping on a
held-out split.

To keep this example under a minute on a CPU, we fine-tune the shipped
``deeplense-x2`` model (trained on simulated Model I lenses) on only 10
simulated ``'hsc-hst'`` pairs, registered onto an exact x2 grid (the HSC
0.168"/px grid and a 0.084"/px one) with
`~astrolens.preprocessing.register_pair`, for 25 tiny epochs. Then we
draw the learning curve from ``history_`` and compare the model before and
after on 2 pairs it has not seen.
"""

import matplotlib.pyplot as plt

from astrolens.models import SuperResolver
from astrolens.preprocessing import register_pair
from astrolens.simulation import simulate_sr_pairs

lrs, hrs = simulate_sr_pairs(12, preset='hsc-hst', seed=11)
pairs = [register_pair(lr, hr, factor=2) for lr, hr in zip(lrs, hrs, strict=True)]
train_pairs, test_pairs = pairs[:10], pairs[10:]
print(f'{len(pairs)} pairs: LR {pairs[0].lr.data.shape}, registered HR '
      f'{pairs[0].hr.data.shape}; largest shift '
      f'{max(abs(s) for p in pairs for s in p.shift):.2f} LR px')

# %%
# The network as shipped, on the two test pairs (PSNR and SSIM against the
# registered HR, next to bicubic upsampling).

sr = SuperResolver.from_pretrained('deeplense-x2', device='cpu')
test_lr = [p.lr for p in test_pairs]
test_hr = [p.hr for p in test_pairs]
before = sr.evaluate(test_lr, test_hr)

# %%
# Fine-tune: a list of `~astrolens.preprocessing.RegisteredPair` is accepted
# as it is (their factor must be the model's scale). ``val_fraction=0.2``
# holds out 2 of the 10 pairs for the validation PSNR that picks the best
# epoch; one epoch draws one random 24x24 patch (LR pixels) per training
# pair.

sr.fine_tune(train_pairs, epochs=25, batch_size=8, patch_size=24, val_fraction=0.2,
             patience=None, progress=False)
after = sr.evaluate(test_lr, test_hr)
for name, m in (('bicubic', before['bicubic']), ('shipped deeplense-x2', before['model']),
                ('fine-tuned', after['model'])):
    print(f'{name:>21}: PSNR {m["psnr"]:.2f} dB, SSIM {m["ssim"]:.4f}, '
          f'flux kept to {m["flux_conservation"]:.1e}')
print(f'best epoch {sr.config_["training"]["best_epoch"]} of '
      f'{sr.config_["training"]["epochs_run"]}, {sr.config_["training"]["seconds"]} s')

# %%
# The learning curve: training loss (L1 on normalised images) and
# validation PSNR per epoch, from ``sr.history_``.

epochs = [h['epoch'] for h in sr.history_]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
ax1.plot(epochs, [h['train_loss'] for h in sr.history_], 'o-', label='train')
ax1.plot(epochs, [h['val_loss'] for h in sr.history_], 's-', label='validation')
ax1.set_xlabel('epoch')
ax1.set_ylabel('L1 loss (normalised units)')
ax1.legend()
ax2.plot(epochs, [h['val_psnr'] for h in sr.history_], 'o-', color='tab:green')
ax2.axvline(sr.config_['training']['best_epoch'], color='gray', ls=':', label='best epoch')
ax2.set_xlabel('epoch')
ax2.set_ylabel('validation PSNR (dB)')
ax2.legend()
fig.suptitle('fine-tuning deeplense-x2 on 8 registered hsc-hst pairs (+2 for validation)')
plt.show()
