import { LogOut, UserRound } from 'lucide-react';
import { Brand } from '../../components/Brand';
import { ThemeToggle } from '../../components/ThemeToggle';
import type { Theme } from '../../lib/theme';
import { SHOP_BASE } from '../lib/route';
import { useShop } from '../ShopContext';
import { Link } from './Link';

export function ShopHeader({ theme, onToggleTheme, onSignOut }: { theme: Theme; onToggleTheme: () => void; onSignOut: () => void }) {
  const { buyer } = useShop();
  return (
    <header className="topbar shop-topbar">
      <Link href={SHOP_BASE} className="brand-link" aria-label="FlashSale shop: all sales">
        <Brand sub="Cyber HUD · shop" titleTag="div" />
      </Link>
      <span className="topbar-spacer" />
      <div className="topbar-group">
        {buyer && (
          <span className="badge accent buyer-chip" title={`Signed in as ${buyer.id}`} data-testid="shop-buyer" data-buyer={buyer.id}>
            <UserRound size={13} aria-hidden />
            <span className="sr-only">Signed in as </span>
            <span className="buyer-id">{buyer.id}</span>
          </span>
        )}
        <ThemeToggle theme={theme} onToggle={onToggleTheme} />
        {buyer && (
          <button type="button" className="btn icon" onClick={onSignOut} aria-label="Sign out" title="Sign out" data-testid="sign-out">
            <LogOut size={15} aria-hidden />
          </button>
        )}
      </div>
    </header>
  );
}
