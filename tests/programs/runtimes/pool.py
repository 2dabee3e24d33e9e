import multiprocessing as mp, os, time, random
def f(x): return (x*x, os.getpid())
if __name__ == '__main__':
    with mp.Pool(2) as p: r = p.map(f, range(20))
    print(sum(a for a,_ in r), len(set(b for _,b in r)), time.time(), random.random())
