import numpy as np
import pytest

from femopt.elements import h8_stiffness, q4_stiffness


def top88_ke(nu):
    """KE of the 88-line code (Andreassen et al. 2011), typed from the paper."""
    A11 = np.array([[12, 3, -6, -3], [3, 12, 3, 0], [-6, 3, 12, -3], [-3, 0, -3, 12]])
    A12 = np.array([[-6, -3, 0, 3], [-3, -6, -3, -6], [0, -3, -6, 3], [3, -6, 3, -6]])
    B11 = np.array([[-4, 3, -2, 9], [3, -4, -9, 4], [-2, -9, -4, -3], [9, 4, -3, -4]])
    B12 = np.array([[2, -3, 4, -9], [-3, 2, 9, -2], [4, 9, 2, 3], [-9, -2, 3, 2]])
    return 1 / (1 - nu**2) / 24 * (np.block([[A11, A12], [A12.T, A11]])
                                   + nu * np.block([[B11, B12], [B12.T, B11]]))


def test_q4_unit_square_matches_88_line_code():
    np.testing.assert_allclose(q4_stiffness(1.0, 0.3), top88_ke(0.3), atol=1e-14)


def test_q4_scales_with_modulus_and_thickness():
    np.testing.assert_allclose(q4_stiffness(210.0, 0.3, 2.5), 210.0 * 2.5 * top88_ke(0.3), rtol=1e-13)


@pytest.mark.parametrize("make,size", [(q4_stiffness, (2.0, 0.5)), (h8_stiffness, (1.0, 2.0, 0.5))])
def test_rigid_body_modes_are_in_the_null_space(make, size):
    K = make(1.0, 0.3, size=size) if make is h8_stiffness else make(1.0, 0.3, 1.0, size)
    dim = len(size)
    np.testing.assert_allclose(K, K.T, atol=1e-14)
    eigenvalues = np.linalg.eigvalsh(K)
    n_rigid = 3 if dim == 2 else 6
    assert np.all(np.abs(eigenvalues[:n_rigid]) < 1e-12)
    assert np.all(eigenvalues[n_rigid:] > 1e-3)


def test_q4_stretched_element_energy():
    # Uniform strain ε_xx = 1 on an hx × hy element: energy = ½ · E/(1−ν²) · hx · hy (plane stress, ε_yy = 0).
    hx, hy, nu = 2.0, 0.5, 0.3
    K = q4_stiffness(1.0, nu, 1.0, (hx, hy))
    x = np.array([0, hx, hx, 0])
    u = np.zeros(8)
    u[0::2] = x  # u_x = x
    assert 0.5 * u @ K @ u == pytest.approx(0.5 / (1 - nu**2) * hx * hy)
