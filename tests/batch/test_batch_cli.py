import pytest
from astropy.table import Table

from astrolens.cli import main

from .conftest import write_cutouts

pytest.importorskip(
    'distributed', reason='dask.distributed is not installed: pip install ".[test]"')


@pytest.mark.parametrize(('argv', 'message'), [
    (['enhance', '-o', 'out'], "give an INPUT FITS file, or --many 'DIR/*.fits'"),
    (['enhance', 'a.fits', '--many', 'in/*.fits', '-o', 'out'], 'not both'),
    (['enhance', 'a.fits', '-o', 'b.fits', '--workers', '2'], 'go with --many'),
    (['enhance', '--many', 'nowhere/*.fits', '-o', 'out'], "no input file matched"),
    (['enhance', '--many', 'nowhere/*.fits', '-o', 'out', '--workers', '0'],
     'workers must be a positive integer'),
    (['classify'], "give image PATHs, or --many 'DIR/*.fits'"),
    (['classify', 'a.fits', '--many', 'in/*.fits'], 'not both'),
])
def test_enhance_and_classify_argument_errors(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and err.startswith(f'astrolens {argv[0]}: error:')


def test_workers_and_scheduler_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as exc:
        main(['enhance', '--many', 'x/*.fits', '-o', 'out', '--workers', '1',
              '--scheduler', 'tcp://localhost:8786'])
    assert exc.value.code == 2
    assert 'not allowed with argument' in capsys.readouterr().err


def test_enhance_many_on_a_scheduler_address(client, tmp_path, capsys):
    write_cutouts(tmp_path / 'in', 3)
    (tmp_path / 'in' / 'broken.fits').write_text('nope')
    argv = ['enhance', '--many', str(tmp_path / 'in' / '*.fits'), '-o', str(tmp_path / 'out'),
            '--scheduler', client.scheduler.address, '-q']
    assert main(argv) == 1  # one input failed
    captured = capsys.readouterr()
    assert 'broken.fits' in captured.err and 'not a readable FITS file' in captured.err
    manifest = Table.read(tmp_path / 'out' / 'manifest.ecsv', format='ascii.ecsv')
    assert sorted(manifest['status']) == ['done', 'done', 'done', 'failed']
    (tmp_path / 'in' / 'broken.fits').unlink()
    assert main(argv[:-1]) == 0
    assert 'enhanced 3 files: 0 done, 3 skipped, 0 failed' in capsys.readouterr().out


def test_classify_many_on_a_scheduler_address(client, tmp_path, capsys):
    write_cutouts(tmp_path / 'in', 2, size=32)
    out = tmp_path / 'classes.ecsv'
    assert main(['classify', '--many', str(tmp_path / 'in'), '--scheduler',
                 client.scheduler.address, '--out', str(out)]) == 0
    assert 'classified 2 files: 2 done' in capsys.readouterr().out
    assert len(Table.read(out, format='ascii.ecsv')) == 2


def test_enhance_many_passes_max_pixels_and_hdu_to_every_file(client, tmp_path, capsys):
    paths = write_cutouts(tmp_path / 'in', 2)
    base = ['enhance', '--many', str(tmp_path / 'in' / '*.fits'), '--scheduler',
            client.scheduler.address, '-q']
    # a limit below the cutouts' size refuses every file, each with the limit named
    assert main([*base, '-o', str(tmp_path / 'small'), '--max-pixels', '10']) == 1
    err = capsys.readouterr().err
    assert err.count('failed') >= len(paths) and 'pixels' in err
    # the same files with the default limit and the primary HDU chosen by index
    assert main([*base, '-o', str(tmp_path / 'ok'), '--hdu', '0']) == 0
    manifest = Table.read(tmp_path / 'ok' / 'manifest.ecsv', format='ascii.ecsv')
    assert list(manifest['status']) == ['done'] * len(paths)
