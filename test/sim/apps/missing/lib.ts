// @ts-expect-error: the module does not exist; the simulator must say so
export { nothing } from "xsiot/does-not-exist";
