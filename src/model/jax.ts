/** @jax-js/jax, loaded after the worker shim (see worker-setup.ts). Model code imports from here. */
import "./worker-setup";
export * from "@jax-js/jax";
