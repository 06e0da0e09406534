"""DenseTranspose: tied weights that stay one variable through training, saving and loading."""

import contextlib
import io
import os
import zipfile

import h5py
import keras
import numpy as np
import pytest

from eqzoo.layers.dense_transpose import DenseTranspose
from eqzoo.layers.skew_symmetric_dense import SkewSymmetricDense
from eqzoo.layers.symmetric_dense import SymmetricDense
from tests.backend_tools import to_numpy, variable_gradients
from tests.layer_checks import run_layer_checks

# (encoder factory, input width, code width, the encoder's stored kernel variable)
ENCODERS = {
    "Dense": (lambda: keras.layers.Dense(3, activation="tanh"), 6, 3, lambda e: e.kernel),
    "SymmetricDense": (lambda: SymmetricDense(activation="tanh"), 4, 4,
                       lambda e: e.stored_kernel),
    "SkewSymmetricDense": (lambda: SkewSymmetricDense(activation="tanh"), 4, 4,
                           lambda e: e.stored_kernel),
}


def _autoencoder(kind, sequential=False):
    make_encoder, width, _, _ = ENCODERS[kind]
    encoder = make_encoder()
    decoder = DenseTranspose(encoder, activation="sigmoid", bias_initializer="random_normal")
    if sequential:
        return keras.Sequential([keras.Input((width,)), encoder, decoder]), encoder, decoder
    inputs = keras.Input((width,))
    return keras.Model(inputs, decoder(encoder(inputs))), encoder, decoder


def _datasets_in_weights_file(path):
    """`{dataset path: shape}` of the weights inside a `.keras` archive or a `.weights.h5` file."""
    if path.endswith(".keras"):
        with zipfile.ZipFile(path) as archive:
            handle = io.BytesIO(archive.read("model.weights.h5"))
    else:
        handle = path
    found = {}
    with h5py.File(handle, "r") as weights:
        weights.visititems(
            lambda name, item: found.update({name: item.shape})
            if isinstance(item, h5py.Dataset) else None
        )
    return found


def _decoder_of(model):
    return next(layer for layer in model.layers if isinstance(layer, DenseTranspose))


def _x(width, rows=5):
    return np.random.default_rng(0).uniform(size=(rows, width)).astype("float32")


@pytest.mark.parametrize("kind", ENCODERS)
def test_output_is_input_times_transposed_source_kernel_plus_bias(kind):
    model, encoder, decoder = _autoencoder(kind)
    _, width, code, _ = ENCODERS[kind]
    z = np.random.default_rng(1).normal(size=(4, code)).astype("float32")
    expected = 1 / (1 + np.exp(-(z @ to_numpy(encoder.kernel).T + to_numpy(decoder.bias))))
    np.testing.assert_allclose(to_numpy(decoder(z)), expected, rtol=1e-5, atol=1e-6)
    assert decoder.compute_output_shape((None, code)) == (None, width)


@pytest.mark.parametrize("kind", ENCODERS)
def test_the_pair_holds_one_kernel(kind):
    model, encoder, decoder = _autoencoder(kind)
    _, width, code, stored = ENCODERS[kind]
    assert [id(w) for w in model.weights].count(id(stored(encoder))) == 1
    encoder_params = sum(int(np.prod(w.shape)) for w in encoder.weights)
    assert model.count_params() == encoder_params + width


@pytest.mark.parametrize("sequential", [False, True], ids=["functional", "sequential"])
@pytest.mark.parametrize("kind", ENCODERS)
def test_keras_round_trip_keeps_the_tie_and_one_kernel_in_the_file(kind, sequential, tmp_path):
    model, encoder, _ = _autoencoder(kind, sequential)
    _, width, _, stored = ENCODERS[kind]
    x = _x(width)
    path = os.path.join(tmp_path, "autoencoder.keras")
    model.save(path)

    datasets = _datasets_in_weights_file(path)
    kernel_shape = tuple(stored(encoder).shape)
    assert list(datasets.values()).count(kernel_shape) == 1, datasets
    assert len(datasets) == len(model.weights) == 3, datasets  # kernel, two biases

    loaded = keras.saving.load_model(path)
    loaded_encoder = next(layer for layer in loaded.layers if type(layer) is type(encoder))
    loaded_decoder = _decoder_of(loaded)
    assert loaded_decoder.source is loaded_encoder
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(model(x)))

    # One training step moves the one variable: the decoder sees the encoder's new kernel.
    before = keras.ops.convert_to_numpy(stored(loaded_encoder)).copy()
    loaded.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    loaded.fit(x, x[:, ::-1], batch_size=5, verbose=0)
    assert not np.array_equal(before, to_numpy(stored(loaded_encoder)))
    assert stored(loaded_decoder.source) is stored(loaded_encoder)


@pytest.mark.parametrize("kind", ENCODERS)
def test_weights_file_round_trip_into_a_fresh_tied_model(kind, tmp_path):
    model, _, _ = _autoencoder(kind)
    _, width, _, _ = ENCODERS[kind]
    path = os.path.join(tmp_path, "autoencoder.weights.h5")
    model.save_weights(path)
    assert len(_datasets_in_weights_file(path)) == 3
    fresh, fresh_encoder, fresh_decoder = _autoencoder(kind)
    fresh.load_weights(path)
    np.testing.assert_array_equal(to_numpy(fresh(_x(width))), to_numpy(model(_x(width))))
    assert fresh_decoder.source is fresh_encoder


@pytest.mark.parametrize("kind", ENCODERS)
def test_decoder_gradient_reaches_the_stored_kernel(kind):
    model, encoder, decoder = _autoencoder(kind)
    _, _, code, stored = ENCODERS[kind]
    z = to_numpy(np.random.default_rng(2).normal(size=(3, code)).astype("float32"))
    # The encoder is not called: only the tie links them.
    (gradient,) = variable_gradients(lambda: keras.ops.sum(decoder(z)), [stored(encoder)])
    assert gradient is not None and np.abs(gradient).max() > 0


def test_textbook_tied_autoencoder_of_nested_sequentials_round_trips(tmp_path):
    # Hands-On ML's recipe: keras.saving of a layer shared across submodels loses it in Keras 3.
    dense_1, dense_2 = keras.layers.Dense(6, activation="relu"), SymmetricDense(activation="relu")
    encoder = keras.Sequential([keras.Input((8,)), dense_1, dense_2], name="encoder")
    decoder = keras.Sequential(
        [keras.Input((6,)), DenseTranspose(dense_2, activation="relu"), DenseTranspose(dense_1)],
        name="decoder",
    )
    model = keras.Sequential([keras.Input((8,)), encoder, decoder])
    path = os.path.join(tmp_path, "tied.keras")
    model.save(path)
    shapes = list(_datasets_in_weights_file(path).values())
    assert shapes.count((8, 6)) == 1 and shapes.count(tuple(dense_2.stored_kernel.shape)) == 1
    assert len(shapes) == len(model.weights) == 6  # 2 kernels, 2 encoder + 2 decoder biases

    loaded = keras.saving.load_model(path)
    loaded_encoder, loaded_decoder = loaded.layers
    assert loaded_decoder.layers[0].source is loaded_encoder.layers[1]
    assert loaded_decoder.layers[1].source is loaded_encoder.layers[0]
    np.testing.assert_array_equal(to_numpy(loaded(_x(8))), to_numpy(model(_x(8))))


def test_tie_survives_a_decoder_serialized_before_its_source(tmp_path):
    encoder = keras.layers.Dense(3, name="encoder")
    encoder.build((None, 5))
    code, data = keras.Input((3,)), keras.Input((5,))
    decoder = keras.Sequential([keras.Input((3,)), DenseTranspose(encoder)], name="decoder")
    model = keras.Model([code, data], [decoder(code), encoder(data)])
    assert model.layers.index(decoder) < model.layers.index(encoder)
    path = os.path.join(tmp_path, "decoder_first.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.get_layer("decoder").layers[0].source is loaded.get_layer("encoder")
    inputs = [np.ones((2, 3), "float32"), _x(5, rows=2)]
    for got, expected in zip(loaded(inputs), model(inputs), strict=True):
        np.testing.assert_array_equal(to_numpy(got), to_numpy(expected))


def test_saving_refuses_a_tie_it_could_not_tell_apart(tmp_path):
    twins = [keras.layers.Dense(3, name="twin") for _ in range(2)]
    parts = [keras.Sequential([keras.Input((5,)), twin]) for twin in twins]
    decoder = keras.Sequential([keras.Input((3,)), DenseTranspose(twins[1])])
    inputs = keras.Input((5,))
    model = keras.Model(inputs, [parts[0](inputs), decoder(parts[1](inputs))])
    with pytest.raises(ValueError, match="tie to 'twin'.*exactly the same config.*distinct names"):
        model.save(os.path.join(tmp_path, "twins.keras"))


@pytest.mark.parametrize("kind", ["Dense", "SymmetricDense"])
def test_shared_layer_checks_on_a_decoder_alone(kind):
    make_encoder, width, code, _ = ENCODERS[kind]

    def make_layer():
        encoder = make_encoder()
        encoder.build((None, width))
        return DenseTranspose(encoder, activation="tanh")

    encoder_params = sum(int(np.prod(w.shape)) for w in make_layer().source.weights)
    # Alone in a model, the decoder carries its source: kernel (and the unused source bias).
    # Keras warns of that bias where its gradient is missing (TensorFlow, PyTorch); JAX's grad
    # gives it zeros, without a warning.
    warns = (contextlib.nullcontext() if keras.backend.backend() == "jax"
             else pytest.warns(UserWarning, match="Gradients do not exist"))
    with warns:
        run_layer_checks(make_layer, (code,), expected_output_shape=(width,),
                         expected_trainable=encoder_params + width)


def test_to_dense_copies_the_transposed_kernel():
    model, encoder, decoder = _autoencoder("SymmetricDense")
    z = np.random.default_rng(3).normal(size=(2, 4)).astype("float32")
    dense = decoder.to_dense()
    assert type(dense) is keras.layers.Dense
    np.testing.assert_allclose(to_numpy(dense(z)), to_numpy(decoder(z)), rtol=1e-6)


def test_config_round_trip_outside_saving_gives_an_untied_copy():
    _, encoder, decoder = _autoencoder("Dense")
    clone = DenseTranspose.from_config(decoder.get_config())
    assert clone.source is not encoder
    assert clone.source.get_config() == encoder.get_config()
    assert clone.get_config() == decoder.get_config()


def test_source_must_be_a_layer():
    with pytest.raises(ValueError, match="`source`.*expected a Keras layer.*Received: source="):
        DenseTranspose(np.eye(3))


def test_source_must_have_a_two_dimensional_kernel():
    norm = keras.layers.LayerNormalization()
    norm.build((None, 4))
    with pytest.raises(ValueError, match="2-D `kernel`.*LayerNormalization with kernel shape"):
        DenseTranspose(norm)
    conv = keras.layers.Conv1D(2, 3)
    decoder = DenseTranspose(conv)  # unbuilt: checked when the decoder is built
    conv.build((None, 8, 4))
    with pytest.raises(ValueError, match=r"Conv1D with kernel shape \(3, 4, 2\)"):
        decoder(np.ones((1, 2), "float32"))


def test_source_must_be_built_before_the_decoder():
    encoder = keras.layers.Dense(3)
    with pytest.raises(ValueError, match="needs its source layer .* to be built first"):
        DenseTranspose(encoder)(np.ones((2, 3), "float32"))


def test_input_width_must_be_the_source_units():
    encoder = keras.layers.Dense(3)
    encoder.build((None, 6))
    with pytest.raises(ValueError, match=r"6 x 3 kernel.*be 3. Received: input_shape=\(2, 4\)"):
        DenseTranspose(encoder)(np.ones((2, 4), "float32"))


def summary_rows(model):
    """`{layer name: its Param # cell}` from `model.summary()`, and the whole text."""
    lines = []
    model.summary(print_fn=lambda line, **kwargs: lines.append(line))
    text = "\n".join(lines)
    rows = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("│").split("│")]
        if len(cells) >= 3 and cells[2]:  # a long name wraps its (type) onto a line of its own
            rows[cells[0].split(" (")[0]] = cells[2]
    return rows, text


@pytest.mark.parametrize("kind", ENCODERS)
def test_the_summary_row_of_a_decoder_counts_its_own_bias_only(kind):
    model, encoder, decoder = _autoencoder(kind)
    _, width, _, _ = ENCODERS[kind]
    encoder_params = sum(int(np.prod(w.shape)) for w in encoder.weights)
    assert decoder.count_params() == width
    assert len(decoder.weights) == 1 + len(encoder.weights)  # the tie is still tracked
    rows, text = summary_rows(model)
    assert rows[decoder.name] == f"{width:,}" and rows[encoder.name] == f"{encoder_params:,}", text
    assert model.count_params() == encoder_params + width
    assert f"Total params: {encoder_params + width:,}" in text


def test_an_unbuilt_decoder_refuses_to_count_like_any_layer():
    with pytest.raises(ValueError, match="isn't built"):
        DenseTranspose(keras.layers.Dense(3)).count_params()
