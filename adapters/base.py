"""The interface every framework adapter implements, and how adapters are found.

Rules, after einops' backends: an adapter imports its framework only when it is loaded, and a
framework that is not installed is normal, reported as unavailable with the reason, never a
crash. Arrays cross the boundary as NumPy arrays of the same dtype, bit for bit (bfloat16
through ml_dtypes). Gradients and Hessians come from the framework's own autodiff; an
implementation's loss is elementwise, so ∂/∂x of sum(loss) is the elementwise gradient and the
same again gives the Hessian's diagonal.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import os
import site
import sys
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from bcebench.adapters.declaration import Declaration
from bcebench.reference import fenv

REGISTRY = {
    "numpy": "bcebench.adapters.numpy_adapter:NumpyAdapter",
    "torch": "bcebench.adapters.torch_adapter:TorchAdapter",
    # libraries built on PyTorch, beside its own rows (adapters.torch_library)
    "kornia": "bcebench.adapters.kornia_adapter:KorniaAdapter",
    "monai": "bcebench.adapters.monai_adapter:MonaiAdapter",
    "torchvision": "bcebench.adapters.torchvision_adapter:TorchvisionAdapter",
    "timm": "bcebench.adapters.timm_adapter:TimmAdapter",
    "smp": "bcebench.adapters.smp_adapter:SmpAdapter",
    "jax": "bcebench.adapters.jax_adapter:JaxAdapter",
    "tensorflow": "bcebench.adapters.tensorflow_adapter:TensorflowAdapter",
    "mlx": "bcebench.adapters.mlx_adapter:MlxAdapter",
    "tinygrad": "bcebench.adapters.tinygrad_adapter:TinygradAdapter",
    "paddle": "bcebench.adapters.paddle_adapter:PaddleAdapter",
    "keras-jax": "bcebench.adapters.keras_adapter:KerasJaxAdapter",
    "keras-torch": "bcebench.adapters.keras_adapter:KerasTorchAdapter",
    "keras-tensorflow": "bcebench.adapters.keras_adapter:KerasTensorflowAdapter",
    "keras-numpy": "bcebench.adapters.keras_adapter:KerasNumpyAdapter",
    "sklearn": "bcebench.adapters.sklearn_adapter:SklearnAdapter",
    "array-api:array_api_strict": "bcebench.adapters.array_api_adapter:ArrayApiAdapter",
}
ARRAY_API_ADAPTER = REGISTRY["array-api:array_api_strict"]  # the adapter of every array-api:MODULE
ARRAY_API = "array-api:"  # array-api:MODULE is any Array API namespace, registered or not
# Frameworks that fix process-wide state when loaded (Keras's backend): in-process callers load them
# in a process of their own.
PROCESS_BOUND = frozenset(name for name in REGISTRY if name.startswith("keras-"))
DEVICES = ("cpu", "cuda", "gpu")
DTYPES = ("float16", "bfloat16", "float32", "float64")
BENCH_MODES = ("forward", "forward-mean", "backward", "forward+backward")


def sample_weights(count: int) -> np.ndarray:
    """The per-sample weights of the "weighted-mean" reduction: 1, 2, 3, 4, 1, 2, … (small
    integers, so that the exact weighted mean is easy to state and any dtype holds them)."""
    return 1.0 + np.arange(count) % 4


class Unsupported(Exception):
    """The implementation rejects this dtype, input or quantity by design."""


class Unavailable(Exception):
    """The framework cannot be loaded here, for the reason given (other than not being installed)."""


@dataclass(frozen=True)
class Implementation:
    """One implementation of BCE under test.

    ``call(x, y)`` takes framework arrays and returns the loss: elementwise for reduction
    "none", a scalar for "mean" and "sum". ``oracle`` holds the oracle parameters that define
    what it computes (gamma, alpha, weight, pos_weight). ``hard_labels_only`` marks a function
    whose definition equals BCE's only for labels 0 and 1 (optax's focal loss uses (1 − p_t)^γ).
    A non-gating implementation is reported but never fails the gate. ``with_parameters(**oracle)``,
    where given, builds the same function with other oracle parameters (a focal loss with γ = 0).
    """

    id: str
    framework: str
    form: str
    call: Callable
    reduction: str = "none"
    oracle: dict = field(default_factory=dict)
    gating: bool = True
    hard_labels_only: bool = False
    like: str = ""  # a built-in this one is built on: its known deviations apply (adapters.declaration)
    reduced: Implementation | None = None  # a reduced function judged element by element (batches_of_one)
    derivatives: bool = True
    compile_seconds: Callable[[], float] | None = None
    with_parameters: Callable[..., Implementation] | None = None

    @property
    def one_at_a_time(self) -> bool:
        """Called on each element alone: the element-by-element view of a reduced function."""
        return self.reduced is not None


class Adapter:
    """What the suite needs from a framework. Subclasses set ``name`` and implement the rest."""

    name = ""
    gpu_device: str | None = None  # the accelerator device this framework would use, if any

    def version(self) -> str:
        raise NotImplementedError

    def apply_settings(self, own_process: bool = False) -> Callable[[], None]:
        """Apply the framework settings its checks need (TF32 off, float64 on) and return what
        puts the previous ones back. ``own_process``: a process of bcebench's own, which may also
        take settings that cannot be undone (a compilation cache on disk). Default: none."""
        return lambda: None

    @contextlib.contextmanager
    def settings(self):
        """``apply_settings`` inside the scope, the caller's own settings back after it."""
        restore = self.apply_settings()
        try:
            yield
        finally:
            restore()

    def devices(self) -> list[str]:
        return ["cpu"]

    def dtypes(self, device: str) -> list[str]:
        """The dtypes checked on ``device``: every one but those ``missing_dtypes`` names."""
        return [dtype for dtype in DTYPES if dtype not in self.missing_dtypes(device)]

    def missing_dtypes(self, device: str) -> dict[str, str]:
        """The dtypes the framework does not offer on ``device`` here, each with why. Default: none."""
        return {}

    def implementations(self) -> list[Implementation]:
        raise NotImplementedError

    def from_numpy(self, array: np.ndarray, device: str):
        raise NotImplementedError

    def to_numpy(self, value) -> np.ndarray:
        raise NotImplementedError

    def evaluate(self, impl: Implementation, quantity: str, x, y, device: str):
        """The loss, or its elementwise gradient or Hessian diagonal by autodiff, as a framework
        array; x and y are framework arrays on ``device``."""
        raise NotImplementedError

    def synchronize(self, device: str) -> None:
        """Wait until the device has finished its queued work (for timing)."""

    def timed(self, impl: Implementation, mode: str, x, y, device: str) -> Callable[[], object]:
        """A call that does one unit of ``mode`` work on framework arrays and returns only when the
        device has finished it: forward (elementwise loss), forward-mean (its mean), backward (the
        gradient from a forward pass done beforehand) or forward+backward."""
        raise NotImplementedError

    def elementary(self, x, device: str) -> Callable[[], object]:
        """A call that computes log1p(exp(−|x|)) — one exp and one log1p per element, the
        transcendental core of BCE — in one pass over memory (jitted or compiled where the
        framework can fuse; a loss that reads more than x cannot beat it), waiting for the device."""
        raise NotImplementedError

    def rewrites(self) -> list[Implementation]:
        """The stable rewrites (``adapters.rewrites``) in this framework's operations: not checked by
        the gate, swept and timed beside the built-ins they rewrite (``sweep --compare-with``)."""
        return []

    def find(self, implementation_id: str) -> Implementation | None:
        """A built-in or a rewrite by its id (None if there is none)."""
        return next((i for i in [*self.implementations(), *self.rewrites()] if i.id == implementation_id), None)

    def copy(self, x, device: str) -> Callable[[], object] | None:
        """A call that copies x into a buffer of its own on the device (the memory wall there),
        waiting for the device; None where the framework has no plain copy to time."""
        return None

    def linear_gradient(self, impl: Implementation, X: np.ndarray, w: np.ndarray, y: np.ndarray,
                        device: str) -> np.ndarray:
        """∂/∂w of mean_i loss((Xw)_i, y_i) for a linear model, NumPy arrays in and out.

        This default is the chain rule written out, Xᵀ·(∂L/∂z)/n, with z = Xw rounded to the dtype
        and ∂L/∂z from ``evaluate``: right for frameworks without autodiff. A framework with
        autodiff overrides it to differentiate through its own matrix product and mean.
        """
        from bcebench.reference.formats import as_dtype, format_of, round_float64

        fmt = format_of(X.dtype)
        X64 = X.astype(np.float64)
        z = as_dtype(round_float64(X64 @ w.astype(np.float64), fmt), fmt)
        dz = self.run(impl, "grad", z, y, device).astype(np.float64)
        return as_dtype(round_float64(X64.T @ dz / len(y), fmt), fmt)

    def run(self, impl: Implementation, quantity: str, x: np.ndarray, y: np.ndarray, device: str) -> np.ndarray:
        """Evaluate with NumPy arrays in and out (the inputs are copied onto the device); an
        implementation seen one element at a time (``batches_of_one``) is called on each alone."""
        if impl.one_at_a_time:
            ys = np.broadcast_to(y, x.shape)
            parts = [self.run(impl.reduced, quantity, x[i : i + 1], ys[i : i + 1], device).reshape(-1)
                     for i in range(x.size)]
            return np.concatenate(parts) if parts else np.empty(x.shape, dtype=x.dtype)
        fx, fy = self.from_numpy(x, device), self.from_numpy(y, device)
        with fenv.theirs():  # the floating-point environment its own process set (reference.fenv)
            return self.to_numpy(self.evaluate(impl, quantity, fx, fy, device))


# Each framework's own thread pool held to one thread: a process that checks or sweeps gets one core,
# and its elementwise and reduction results do not depend on how many the machine has.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "TORCHINDUCTOR_COMPILE_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def worker_environment(environment) -> dict:
    """``environment`` for one of several worker processes on one machine: ONE_THREAD, XLA's
    flags added to any already given, JAX allocating GPU memory as it needs it (by default each
    process would take three quarters of the GPU, and the second would find none), and
    TensorFlow's start-up log lines silenced unless asked for."""
    flags = " ".join(filter(None, [environment.get("XLA_FLAGS", ""), XLA_ONE_THREAD]))
    return {"XLA_PYTHON_CLIENT_PREALLOCATE": "false", "TF_CPP_MIN_LOG_LEVEL": "2", **environment, **ONE_THREAD,
            "XLA_FLAGS": flags}


def cache_folder(name: str) -> Path | None:
    """A folder for a framework's compiled code, kept between runs (compiling is most of what a
    first run of JAX's eager functions costs): BCEBENCH_CACHE_DIR, else $XDG_CACHE_HOME/bcebench or
    ~/.cache/bcebench, then ``name``; None when BCEBENCH_CACHE_DIR is set empty (no cache)."""
    root = os.environ.get("BCEBENCH_CACHE_DIR")
    if root == "":
        return None
    if root is None:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bcebench"
    return Path(root) / name


def known(name: str) -> bool:
    return name in REGISTRY or (name.startswith(ARRAY_API) and len(name) > len(ARRAY_API))


def _import_failure(error: ImportError) -> str:
    """'X: not installed' where a top-level package is missing, else the import error itself (a
    broken installation must not pass for an absent one)."""
    missing = error.name if isinstance(error, ModuleNotFoundError) else None
    if missing and "." not in missing and importlib.util.find_spec(missing) is None:
        return f"{missing}: not installed"
    return f"import failed: {type(error).__name__}: {error}"


def load(name: str, scoped: bool = False) -> tuple[Adapter | None, str]:
    """(adapter, '') when its framework imports, else (None, why not). Loaded in a process of
    bcebench's own (the default), the adapter's settings hold for the rest of the process;
    ``scoped`` (the caller's own process: the Python API) applies none, and the caller runs its
    checks inside ``adapter.settings()``."""
    if not known(name):
        raise KeyError(f"unknown framework {name!r}: expected one of {', '.join(REGISTRY)}, or {ARRAY_API}MODULE")
    target, arguments = (ARRAY_API_ADAPTER, [name.removeprefix(ARRAY_API)]) if name.startswith(ARRAY_API) else (
        REGISTRY[name], [])
    module_name, class_name = target.split(":")
    try:
        adapter = getattr(importlib.import_module(module_name), class_name)(*arguments)
    except ImportError as error:
        return None, _import_failure(error)
    except Unavailable as error:
        return None, str(error)
    if not scoped:
        adapter.apply_settings(own_process=True)  # for the rest of the process
    return adapter, ""


def load_user_function(spec: str) -> Callable:
    """``path/to/file.py:fn`` (loaded with its folder first on the import path, as Python runs a
    script) or ``package.module:fn`` (imported from the current folder first, as ``python -m`` would)
    -> the function; ValueError if it is not there."""
    target, _, function_name = spec.rpartition(":")
    if not target or not function_name:
        raise ValueError(f"--impl {spec!r}: expected path/to/file.py:function or package.module:function")
    own = None  # a file's folder and its modules
    if target.endswith(".py"):
        location = importlib.util.spec_from_file_location(f"bcebench_user_{abs(hash(target))}", target)
        if location is None or location.loader is None:
            raise ValueError(f"--impl {spec!r}: cannot load {target}")
        module = importlib.util.module_from_spec(location)
        try:
            folder = Path(target).resolve().parent
            with _first_on_path(folder), _own_modules(folder) as own:  # the modules beside it, as a script imports them
                location.loader.exec_module(module)
        except FileNotFoundError:
            raise ValueError(f"--impl {spec!r}: no such file {target}") from None
        except SyntaxError as error:
            raise ValueError(f"--impl {spec!r}: {target}, line {error.lineno}: {error.msg}") from None
        except (Exception, SystemExit) as error:  # the user's module failed while it loaded
            raise ValueError(f"--impl {spec!r}: loading {target} raised {_first_line(error)}") from None
    else:
        try:
            with _first_on_path(Path.cwd()):  # as ``python -m`` would: the current folder, then the installed packages
                module = importlib.import_module(target)
        except ImportError as error:
            raise ValueError(f"--impl {spec!r}: cannot import {target} from {Path.cwd()} or the installed packages "
                             f"({error})") from None
        except SyntaxError as error:
            raise ValueError(f"--impl {spec!r}: {error.filename}, line {error.lineno}: {error.msg}") from None
        except (Exception, SystemExit) as error:
            raise ValueError(f"--impl {spec!r}: importing {target} raised {_first_line(error)}") from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ValueError(f"--impl {spec!r}: {target} has no function {function_name!r}")
    return _beside_its_modules(function, own) if own is not None and own.held else function


@contextlib.contextmanager
def _first_on_path(folder: Path):
    """``folder`` first on the import path while a user's module loads, and then off it again, so
    that the caller's process keeps its own path."""
    entry = str(folder)
    added = entry not in sys.path
    if added:
        sys.path.insert(0, entry)
    try:
        yield
    finally:
        if added and entry in sys.path:
            sys.path.remove(entry)


@dataclass
class _Own:
    """A user's file's folder, the top-level names it holds, and the modules of those names the file
    got from it (what ``sys.modules`` held when the file had loaded; added to when its function
    imports one)."""

    folder: Path
    held: set[str]
    modules: dict = field(default_factory=dict)


@contextlib.contextmanager
def _own_modules(folder: Path):
    """The modules ``folder`` holds imported from it while a user's file of that folder loads, as a
    script imports the modules beside it: a module of the same top-level name cached from another
    folder of a project (another declared file's helpers.py, or the caller's own) is set aside
    meanwhile, and put back after, so that the caller's modules are its own again. An installed
    module (the standard library's, a site-packages') stays: the file gets it as before, and a
    framework imported a second time would not load. Yields the ``_Own`` of the folder."""
    own = _Own(folder, _modules_in(folder))
    aside = {name: module for name, module in _cached(own.held).items() if _from_another_project_folder(module, folder)}
    for name in aside:
        del sys.modules[name]
    try:
        yield own
    finally:
        own.modules = {name: module for name, module in _cached(own.held).items() if _loaded_from(module, folder)}
        sys.modules.update(aside)


def _beside_its_modules(function: Callable, own: _Own) -> Callable:
    """``function``, called with its folder first on the import path and each top-level name the
    folder holds bound to the module the file got from it: a module the function imports when it runs
    (``import helpers`` in its body) is its folder's, not one of that name that another declared file
    or the caller imported meanwhile. Installed modules stay as they are; the process's path and
    modules are the caller's again after each call."""
    folder = own.folder

    @functools.wraps(function)
    def call(*args, **kwargs):
        names = {name for name in own.held if _from_another_project_folder(sys.modules.get(name), folder)}
        theirs = _bind(names, own.modules) if names else {}
        try:
            with _first_on_path(folder):
                return function(*args, **kwargs)
        finally:
            if names:
                mine = _bind(names, theirs)
                own.modules.update({name: module for name, module in mine.items() if _loaded_from(module, folder)})

    return call


def _bind(names: set[str], modules: dict) -> dict:
    """``modules`` cached in place of every module of the top-level ``names`` (and their submodules);
    returns those it replaced."""
    replaced = _cached(names)
    for name in replaced:
        del sys.modules[name]
    sys.modules.update({name: module for name, module in modules.items() if name.partition(".")[0] in names})
    return replaced


def _cached(names: set[str]) -> dict:
    """The cached modules of the top-level ``names`` and their submodules."""
    return {name: module for name, module in list(sys.modules.items()) if name.partition(".")[0] in names}


def _modules_in(folder: Path) -> set[str]:
    """The top-level names an import finds in ``folder``: its modules and packages (``__main__`` and
    the like left out, and bcebench's own name: the judge is never set aside)."""
    if not folder.is_dir():
        return set()
    found = {entry.stem if entry.suffix == ".py" else entry.name for entry in folder.iterdir()
             if (entry.suffix == ".py" and entry.is_file()) or (entry / "__init__.py").is_file()}
    return {name for name in found if not name.startswith("__") and name != __name__.partition(".")[0]}


def _from_another_project_folder(module, folder: Path) -> bool:
    """Whether the cached ``module`` was loaded from a file outside ``folder`` and outside the
    installed packages and the standard library (a built-in module has no file: it stays)."""
    origin = getattr(module, "__file__", None)
    return bool(origin) and _where(origin, folder) == "elsewhere"


def _loaded_from(module, folder: Path) -> bool:
    origin = getattr(module, "__file__", None)
    return bool(origin) and _where(origin, folder) == "folder"


@functools.lru_cache(maxsize=1024)
def _where(origin: str, folder: Path) -> str:
    """'folder' for a file inside ``folder``, 'installed' inside an installed root, else 'elsewhere'
    (kept: a user's function asks at each call)."""
    path = Path(origin).resolve()
    if path.is_relative_to(folder.resolve()):
        return "folder"
    return "installed" if any(path.is_relative_to(root) for root in _installed_roots()) else "elsewhere"


@functools.cache
def _installed_roots() -> tuple[Path, ...]:
    """Where this interpreter's installed modules live: the standard library and every site-packages."""
    paths = sysconfig.get_paths()
    roots = [paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")]
    roots += [*site.getsitepackages(), site.getusersitepackages()]
    return tuple(dict.fromkeys(Path(root).resolve() for root in roots))


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def require_builtin(adapter: Adapter, like: str) -> None:
    """A declaration's ``like`` names a built-in of its framework: ValueError listing them otherwise."""
    if adapter.find(like) is None:
        raise ValueError(f"like {like!r}: not a built-in of {adapter.name}: expected one of "
                         f"{', '.join(i.id for i in adapter.implementations())}")


def batches_of_one(impl: Implementation) -> Implementation:
    """A reduced implementation (mean or sum) seen element by element, ``ID[each]``: called on each
    element alone, where the mean and the sum of one loss are that loss exactly, with its gradient
    and Hessian from the framework's autodiff of that one-element reduction; so a reduced function is
    judged on the same cases, special values and overflow as an elementwise one."""
    derivable = replace(impl, derivatives=True)
    return replace(impl, id=f"{impl.id}[each]", reduction="none", derivatives=True, reduced=derivable)


def declared(declaration: Declaration, call: Callable, *, derivatives: bool | None = None, gating: bool = True,
             compile_seconds: Callable[[], float] | None = None,
             with_parameters: Callable[..., Implementation] | None = None) -> Implementation:
    """The implementation a declaration describes, ``call`` adapted to its calling convention: the one
    way a built-in and a user's function are made. What the framework decides rather than the
    declaration: whether its autodiff gives the derivatives (by default, of an elementwise loss), whether
    the implementation gates, how long compiling it took, and how to rebuild it with other parameters."""
    return Implementation(id=declaration.id, framework=declaration.framework, form=declaration.form,
                          call=declaration.adapt(call), reduction=declaration.reduction,
                          oracle=dict(declaration.parameters), gating=gating,
                          hard_labels_only=declaration.labels == "hard", like=declaration.like,
                          derivatives=declaration.reduction == "none" if derivatives is None else derivatives,
                          compile_seconds=compile_seconds, with_parameters=with_parameters)


def focal_parameters(gamma: float, alpha: float | None) -> dict:
    """The oracle's parameters of a focal loss: γ, and α where the loss weights its terms."""
    return {"gamma": gamma} | ({} if alpha is None else {"alpha": alpha})


def builtin(name: str, framework: str, form: str, call: Callable, *, parameters: dict | None = None,
            reduction: str = "none", labels: str = "all", rank: int = 1, **facts) -> Implementation:
    """A framework's own implementation, declared as a user's would be (``builtin``: its id is its
    name; ``rank`` 2 for a library that takes a column, as a user's ``--input-rank 2``); ``facts``
    as ``declared`` takes them."""
    return declared(Declaration("", framework, form, name, dict(parameters or {}), reduction, labels, rank=rank,
                                builtin=True), call, **facts)


def user_implementation(declaration: Declaration, call: Callable | None = None) -> Implementation:
    """A user's ``fn(x, y)`` as its declaration says (``adapters.declaration``), checked through the
    framework's adapter like the others; ``call`` is the function itself where it was handed over
    rather than located."""
    return declared(declaration, call if call is not None else load_user_function(declaration.location))
