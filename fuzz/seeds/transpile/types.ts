type Id = number & { readonly __brand: "Id" };
enum Color { Red = 1, Green = "g" }
namespace NS { export const x: number = 1; }
abstract class Base<T extends object = {}> implements Iterable<T> {
  private readonly items: T[] = [];
  constructor(public name: string, protected count?: number) {}
  abstract kind(): string;
  *[Symbol.iterator](): Iterator<T> { yield* this.items; }
}
declare const ext: unknown;
const f = <T,>(x: T): T => x!;
let v = f<string>("a") as unknown as Id satisfies Id;
function over(a: string): string;
function over(a: number): number;
function over(a: any) { return a; }
const r = await pg.query(`select ${v}`, [Color.Red, NS.x]);
return r?.rows ?? [];
