import torch

from focusmim.metrics import decorrelation, lifetime_sparsity, population_sparsity


def _brute(z):
    x = z.double().reshape(len(z), -1)
    x = (x - x.mean(0)) / x.std(0)
    c = x.T @ x / (len(x) - 1)
    return float(((c**2).sum() - (c.diag() ** 2).sum()) / c.shape[0])


def test_decorrelation_matches_the_d_by_d_definition():
    g = torch.Generator().manual_seed(1)
    mix = torch.randn(40, 40, generator=g)
    z = torch.randn(200, 40, generator=g) @ mix  # correlated units
    assert abs(decorrelation(z) - _brute(z)) < 1e-9
    assert decorrelation(z) > 5 * decorrelation(torch.randn(200, 40, generator=g))


def test_decorrelation_ignores_dead_units_and_needs_two_samples():
    z = torch.randn(100, 10)
    zd = torch.cat([z, torch.zeros(100, 5)], 1)
    assert abs(decorrelation(zd) * 15 - decorrelation(z) * 10) < 1e-9
    try:
        decorrelation(torch.randn(1, 4))
    except ValueError as e:
        assert "N=1" in str(e)
    else:
        raise AssertionError("expected ValueError")


def test_sparsity_extremes():
    one_hot = torch.eye(20)
    assert abs(lifetime_sparsity(one_hot) - 1) < 1e-9
    assert abs(population_sparsity(one_hot) - 1) < 1e-9
    flat = torch.ones(20, 20)
    assert abs(population_sparsity(flat)) < 1e-9
