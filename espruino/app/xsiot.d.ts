// The app is bundled apart and loads the SDK with require("xsiot") at run time.
declare module "xsiot" {
  export * from "../index";
}
