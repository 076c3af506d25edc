import { projects } from "./vitest.shared.js"

export default projects
